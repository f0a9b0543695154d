//! A tmpfs kept busy in every way `fuser` and `holders` look for, shared by tests/fuser.rs and
//! tests/holders.rs: processes with their working directory, an open file, their root
//! (chroot) or a memory map on it, one running an executable from it, and one unrelated
//! process outside it. Everything is undone when the value is dropped, even after a failed
//! assertion: processes killed, loop devices detached, mounts lazily unmounted.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What each process of the scene is there for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// `sleep` whose working directory is the mount.
    Cwd,
    /// `sleep` with FILE open for reading on descriptor 3.
    ReadFd,
    /// `sleep` with FILE open for writing (appending) on descriptor 4.
    WriteFd,
    /// `perl` chrooted into MNT/sub with its working directory the new root.
    Chroot,
    /// `perl` chrooted into MNT/sub, its working directory moved back outside.
    RootOnly,
    /// `python3` with FILE mapped and no descriptor left open.
    Mmap,
    /// A copy of `sleep` on the mount, run from outside it.
    Exe,
    /// `sleep` outside the mount: never listed.
    Unrelated,
}

pub struct Scene {
    pub dir: PathBuf,
    pub mnt: PathBuf,
    pub file: PathBuf,
    children: BTreeMap<Role, Child>,
    /// Mounts made, innermost last; unmounted in reverse.
    mounts: Vec<PathBuf>,
    loops: Vec<String>,
    swaps: Vec<PathBuf>,
    _temp: tempfile::TempDir,
}

impl Scene {
    /// The tmpfs and no process yet; `None` (said on stderr) when it cannot be mounted.
    pub fn mount() -> Option<Scene> {
        let temp = tempfile::Builder::new()
            .prefix("rescue-busy")
            .tempdir()
            .expect("temp dir");
        let dir = temp.path().to_path_buf();
        let mnt = dir.join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let mut scene = Scene {
            file: mnt.join("data"),
            dir,
            mnt: mnt.clone(),
            children: BTreeMap::new(),
            mounts: Vec::new(),
            loops: Vec::new(),
            swaps: Vec::new(),
            _temp: temp,
        };
        if !run_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "busy"])
                .arg(&mnt),
        ) {
            eprintln!("skipped: cannot mount a tmpfs here");
            return None;
        }
        scene.mounts.push(mnt.clone());
        std::fs::write(&scene.file, vec![b'x'; 8192]).unwrap();
        std::fs::create_dir(mnt.join("sub")).unwrap();
        Some(scene)
    }

    /// Every process of [`Role`], each waited for until `/proc` shows it in place.
    pub fn start_all(&mut self) {
        for role in [
            Role::Cwd,
            Role::ReadFd,
            Role::WriteFd,
            Role::Chroot,
            Role::RootOnly,
            Role::Mmap,
            Role::Exe,
            Role::Unrelated,
        ] {
            self.start(role);
        }
    }

    pub fn start(&mut self, role: Role) {
        let file = self.file.to_str().unwrap().to_string();
        let sub = self.mnt.join("sub");
        let mut command = match role {
            Role::Cwd => sleeper(&self.mnt),
            Role::Unrelated => sleeper(&self.dir),
            Role::ReadFd => shell(&format!("exec 3<'{file}'; exec sleep 1000")),
            Role::WriteFd => shell(&format!("exec 4>>'{file}'; exec sleep 1000")),
            Role::Chroot => perl("chroot($ARGV[0]) or die $!; chdir '/' or die $!;", &sub),
            Role::RootOnly => perl(
                "opendir(my $dh, '/') or die $!; chroot($ARGV[0]) or die $!; \
                 chdir($dh) or die $!;",
                &sub,
            ),
            Role::Mmap => python_mmap(&self.file),
            Role::Exe => {
                let copy = self.mnt.join("mysleep");
                std::fs::copy(which("sleep"), &copy).unwrap();
                let mut command = Command::new(copy);
                command.arg("1000").current_dir(&self.dir);
                command
            }
        };
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("start {role:?}: {err}"));
        let pid = child.id();
        self.children.insert(role, child);
        let ready = self.ready_check(role);
        wait_for(&format!("{role:?} ({pid}) in place"), || ready(pid));
    }

    /// When `/proc` shows a process of `role` the way the tests expect it.
    fn ready_check(&self, role: Role) -> Box<dyn Fn(u32) -> bool> {
        let link = |pid: u32, what: &str| std::fs::read_link(format!("/proc/{pid}/{what}")).ok();
        let (mnt, file, sub) = (self.mnt.clone(), self.file.clone(), self.mnt.join("sub"));
        match role {
            Role::Cwd => Box::new(move |pid| link(pid, "cwd") == Some(mnt.clone())),
            Role::Unrelated | Role::Exe => Box::new(move |pid| {
                link(pid, "exe").is_some_and(|exe| exe.to_string_lossy().ends_with("sleep"))
            }),
            Role::ReadFd => {
                Box::new(move |pid| link(pid, "fd/3") == Some(file.clone()) && sleeping(pid))
            }
            Role::WriteFd => {
                Box::new(move |pid| link(pid, "fd/4") == Some(file.clone()) && sleeping(pid))
            }
            // Sleeping only once chroot and chdir are done.
            Role::Chroot | Role::RootOnly => {
                Box::new(move |pid| link(pid, "root") == Some(sub.clone()) && wchan_sleep(pid))
            }
            Role::Mmap => Box::new(move |pid| {
                let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
                maps.contains(file.to_str().unwrap()) && wchan_sleep(pid)
            }),
        }
    }

    pub fn pid(&self, role: Role) -> u32 {
        self.children[&role].id()
    }

    /// The pids of the roles that use the mount.
    pub fn users(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .children
            .iter()
            .filter(|(role, _)| **role != Role::Unrelated)
            .map(|(_, child)| child.id())
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Whether the process of `role` has exited (reaping it).
    pub fn exited(&mut self, role: Role) -> bool {
        let child = self.children.get_mut(&role).unwrap();
        matches!(child.try_wait(), Ok(Some(_)))
    }

    /// A tmpfs mounted at MNT/`name`.
    pub fn stack(&mut self, name: &str) -> PathBuf {
        let below = self.mnt.join(name);
        std::fs::create_dir_all(&below).unwrap();
        assert!(run_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "below"])
                .arg(&below)
        ));
        self.mounts.push(below.clone());
        below
    }

    /// A bind mount of `from` at `to` (outside the mount).
    pub fn bind(&mut self, from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        assert!(run_ok(
            Command::new("mount").arg("--bind").arg(from).arg(to)
        ));
        self.mounts.push(to.to_path_buf());
    }

    /// A loop device on an image file at MNT/`name`: `/dev/loopN`, or `None` when loop
    /// devices cannot be attached here.
    pub fn attach_loop(&mut self, image: &Path) -> Option<String> {
        std::fs::write(image, vec![0u8; 1 << 20]).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(image)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!("losetup: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        self.loops.push(device.clone());
        Some(device)
    }

    /// An ext4 file system on an image on the tmpfs, mounted at DIR/ext, for a swap file (a
    /// tmpfs cannot hold one). `None` when it cannot be made.
    pub fn ext4(&mut self) -> Option<PathBuf> {
        let image = self.mnt.join("ext4.img");
        std::fs::write(&image, vec![0u8; 32 << 20]).unwrap();
        if !run_ok(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image)) {
            return None;
        }
        let device = self.attach_loop_existing(&image)?;
        let at = self.dir.join("ext");
        std::fs::create_dir(&at).unwrap();
        if !run_ok(Command::new("mount").arg(&device).arg(&at)) {
            return None;
        }
        self.mounts.push(at.clone());
        Some(at)
    }

    fn attach_loop_existing(&mut self, image: &Path) -> Option<String> {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(image)
            .output()
            .ok()?;
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || device.is_empty() {
            return None;
        }
        self.loops.push(device.clone());
        Some(device)
    }

    /// A 16 MiB swap file at `path`, swapped on; false when the kernel refuses.
    pub fn swap_file(&mut self, path: &Path) -> bool {
        std::fs::write(path, vec![0u8; 16 << 20]).unwrap();
        let made = run_ok(Command::new("chmod").arg("600").arg(path))
            && run_ok(Command::new("mkswap").arg(path).stdout(Stdio::null()))
            && run_ok(Command::new("swapon").arg(path));
        if made {
            self.swaps.push(path.to_path_buf());
        }
        made
    }

    /// Ends the processes, swap, loops and stacked mounts, leaving the tmpfs itself mounted.
    pub fn release(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for swap in self.swaps.drain(..) {
            let _ = Command::new("swapoff").arg(swap).status();
        }
        while self.mounts.len() > 1 {
            let mount = self.mounts.pop().unwrap();
            let _ = Command::new("umount").arg("-l").arg(mount).status();
        }
        for device in self.loops.drain(..).rev() {
            let _ = Command::new("losetup").arg("-d").arg(device).status();
        }
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.release();
        for mount in self.mounts.drain(..).rev() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(mount)
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn run_ok(command: &mut Command) -> bool {
    command.status().is_ok_and(|status| status.success())
}

fn sleeper(cwd: &Path) -> Command {
    let mut command = Command::new("sleep");
    command.arg("1000").current_dir(cwd);
    command
}

fn shell(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).current_dir("/");
    command
}

fn perl(chroot: &str, root: &Path) -> Command {
    let mut command = Command::new("perl");
    command
        .arg("-e")
        .arg(format!("{chroot} sleep 1000;"))
        .arg(root)
        .current_dir("/");
    command
}

/// python3 maps FILE through libc (Python's own `mmap` keeps a duplicate descriptor open)
/// and closes its descriptor, so only the mapping is left.
fn python_mmap(file: &Path) -> Command {
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(
            "import ctypes, os, sys, time\n\
             libc = ctypes.CDLL(None, use_errno=True)\n\
             libc.mmap.restype = ctypes.c_void_p\n\
             libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, \
             ctypes.c_int, ctypes.c_int, ctypes.c_long]\n\
             fd = os.open(sys.argv[1], os.O_RDONLY)\n\
             address = libc.mmap(None, 4096, 1, 1, fd, 0)\n\
             assert address not in (None, ctypes.c_void_p(-1).value)\n\
             os.close(fd)\n\
             time.sleep(1000)\n",
        )
        .arg(file)
        .current_dir("/");
    command
}

fn which(program: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Whether the process is `sleep` already (after the shell's `exec`).
fn sleeping(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "sleep")
}

/// Whether the process sleeps (state S), done setting itself up.
fn wchan_sleep(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(after == 'S')
        })
        .unwrap_or(false)
}

#[track_caller]
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not ready in 10s: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
