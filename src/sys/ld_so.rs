//! The dynamic loader's search, done without the loader: which file each `DT_NEEDED` name of a
//! program would be loaded from, inside ROOT, as glibc's `ld.so` searches (elf/dl-load.c):
//! the `DT_RPATH` of the object that needs it and of the objects that loaded that one (only
//! when the needing object has no `DT_RUNPATH`), the program's own `DT_RPATH`, then the
//! object's `DT_RUNPATH`, then the directories of ROOT's `/etc/ld.so.conf` (the cache
//! `ldconfig` builds from them), then the default directories, unless `DF_1_NODEFLIB`.
//! `$ORIGIN`, `$LIB` and `$PLATFORM` are expanded; `LD_LIBRARY_PATH` is ignored (it is not
//! ROOT's). A candidate of another class, byte order or machine is skipped, as the loader
//! skips it. Dependencies are loaded breadth first and matched by name, as the loader does,
//! so a name needed twice is resolved once.
//!
//! Every path is resolved inside ROOT ([`Root`]), so merged-/usr and absolute symlinks behave
//! as in a chroot. Probes and parsed objects are cached, so a whole `/usr/bin` costs one read
//! per library. Not modelled: `ld.so.cache` contents that disagree with `ld.so.conf`,
//! glibc-hwcaps subdirectories, secure-mode (setuid) restrictions on `$ORIGIN`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use super::elf::{self, Arch, Elf, ElfError, Endian};
use super::root::{Last, Root};

/// What stands at a path the loader would try.
#[derive(Clone, Debug)]
pub enum Probe {
    Absent,
    /// There, but the loader would not take it (wrong class or machine, not ELF, truncated).
    Skipped(String),
    Found(Rc<Elf>),
}

/// One library of a program's tree.
#[derive(Clone, Debug)]
pub struct Lib {
    pub name: OsString,
    /// Where it would be loaded from (as the loader names it), or `None`: not found.
    pub path: Option<PathBuf>,
    pub needed: Vec<OsString>,
    /// The object that first needed it.
    pub needed_by: PathBuf,
    /// Candidates passed over, and why.
    pub skipped: Vec<(PathBuf, String)>,
    /// The directories searched, in order (for finding who owns the missing file).
    pub searched: Vec<PathBuf>,
    /// This name is the program's interpreter, matched by name as the loader matches it.
    pub is_interp: bool,
}

/// The interpreter a program names and whether it is there.
#[derive(Clone, Debug)]
pub struct Interp {
    pub path: PathBuf,
    /// `None` when it is usable, else why not ("missing", "not an ELF file", ...).
    pub problem: Option<String>,
}

/// A program and everything it would load.
#[derive(Clone, Debug)]
pub struct Tree {
    pub program: PathBuf,
    pub interp: Option<Interp>,
    pub needed: Vec<OsString>,
    pub libs: HashMap<OsString, Lib>,
}

impl Tree {
    /// The libraries that would not be found, in the order they were searched for.
    pub fn missing(&self) -> Vec<&Lib> {
        let mut out: Vec<&Lib> = self
            .libs
            .values()
            .filter(|lib| lib.path.is_none() && !lib.is_interp)
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn starts(&self) -> bool {
        self.interp.as_ref().is_none_or(|i| i.problem.is_none()) && self.missing().is_empty()
    }
}

/// An object being loaded: its facts and where it came from.
struct Loaded {
    path: PathBuf,
    elf: Rc<Elf>,
    /// The index of the object that loaded it (`None` for the program).
    loader: Option<usize>,
}

/// The search with everything read once: ROOT's `ld.so.conf` directories and every probe.
pub struct Loader {
    root: Root,
    conf: Vec<PathBuf>,
    probes: HashMap<(Arch, PathBuf), Probe>,
}

impl Loader {
    pub fn new(root: Root) -> Loader {
        let mut conf = Vec::new();
        let mut read = HashSet::new();
        read_conf(&root, Path::new("/etc/ld.so.conf"), &mut read, &mut conf);
        let mut seen = HashSet::new();
        conf.retain(|dir| seen.insert(dir.clone()));
        Loader {
            root,
            conf,
            probes: HashMap::new(),
        }
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The directory `program` really lives in, symlinks followed inside ROOT: its `$ORIGIN`.
    pub fn origin(&self, program: &Path) -> PathBuf {
        self.root
            .resolve_inside(program, Last::Follow)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/"))
    }

    /// The directories of ROOT's `ld.so.conf` and its includes, in order, each once.
    pub fn conf_dirs(&self) -> &[PathBuf] {
        &self.conf
    }

    /// Reads the ELF at `inside` (any kind).
    pub fn read(&self, inside: &Path) -> Result<Elf, ElfError> {
        let file = self.root.open_regular(inside)?;
        elf::read(&file)
    }

    /// The tree of `program`, an ELF already read. `origin` is the directory the program
    /// really lives in (its `$ORIGIN`).
    pub fn tree(&mut self, program: &Path, elf: Elf, origin: &Path) -> Tree {
        let arch = elf.arch.expect("read gives an arch");
        let mut tree = Tree {
            program: program.to_path_buf(),
            interp: None,
            needed: elf.needed.clone(),
            libs: HashMap::new(),
        };
        if let Some(interp) = &elf.interp {
            let path = PathBuf::from(interp);
            let problem = match self.probe(arch, &path) {
                Probe::Found(_) => None,
                Probe::Absent => Some("missing".to_string()),
                Probe::Skipped(why) => Some(why),
            };
            if let Some(name) = path.file_name() {
                tree.libs.insert(
                    name.to_os_string(),
                    Lib {
                        name: name.to_os_string(),
                        path: problem.is_none().then(|| path.clone()),
                        needed: Vec::new(),
                        needed_by: program.to_path_buf(),
                        skipped: Vec::new(),
                        searched: Vec::new(),
                        is_interp: true,
                    },
                );
            }
            tree.interp = Some(Interp { path, problem });
        }
        let mut loaded = vec![(
            Loaded {
                path: program.to_path_buf(),
                elf: Rc::new(elf),
                loader: None,
            },
            origin.to_path_buf(),
        )];
        let mut queue = VecDeque::from([0usize]);
        while let Some(index) = queue.pop_front() {
            let names = loaded[index].0.elf.needed.clone();
            for name in names {
                if tree.libs.contains_key(&name) {
                    continue;
                }
                let (lib, found) = self.find(arch, &name, index, &loaded);
                if let Some((path, elf)) = found {
                    let origin = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    loaded.push((
                        Loaded {
                            path,
                            elf,
                            loader: Some(index),
                        },
                        origin,
                    ));
                    queue.push_back(loaded.len() - 1);
                }
                tree.libs.insert(name, lib);
            }
        }
        tree
    }

    /// Looks for `name` as needed by `loaded[index]`.
    fn find(
        &mut self,
        arch: Arch,
        name: &OsStr,
        index: usize,
        loaded: &[(Loaded, PathBuf)],
    ) -> (Lib, Option<(PathBuf, Rc<Elf>)>) {
        let (needer, _) = &loaded[index];
        let mut lib = Lib {
            name: name.to_os_string(),
            path: None,
            needed: Vec::new(),
            needed_by: needer.path.clone(),
            skipped: Vec::new(),
            searched: Vec::new(),
            is_interp: false,
        };
        let dirs = if name.as_bytes().contains(&b'/') {
            // A name with a slash is a path, used as it is.
            vec![PathBuf::new()]
        } else {
            self.search_dirs(arch, index, loaded)
        };
        for dir in dirs {
            let candidate = if dir.as_os_str().is_empty() {
                PathBuf::from(name)
            } else {
                dir.join(name)
            };
            lib.searched.push(dir);
            match self.probe(arch, &candidate) {
                Probe::Absent => {}
                Probe::Skipped(why) => lib.skipped.push((normalize(&candidate), why)),
                Probe::Found(elf) => {
                    lib.path = Some(normalize(&candidate));
                    lib.needed = elf.needed.clone();
                    return (lib, Some((candidate, elf)));
                }
            }
        }
        (lib, None)
    }

    /// The directories searched for a name needed by `loaded[index]`, in the loader's order.
    fn search_dirs(&self, arch: Arch, index: usize, loaded: &[(Loaded, PathBuf)]) -> Vec<PathBuf> {
        let (needer, needer_origin) = &loaded[index];
        let mut dirs = Vec::new();
        if needer.elf.runpath.is_none() {
            let mut at = Some(index);
            while let Some(i) = at {
                let (object, origin) = &loaded[i];
                if object.elf.runpath.is_none() {
                    if let Some(rpath) = &object.elf.rpath {
                        dirs.extend(expand(rpath, origin, &arch));
                    }
                }
                at = object.loader;
            }
        }
        if let Some(runpath) = &needer.elf.runpath {
            dirs.extend(expand(runpath, needer_origin, &arch));
        }
        if !needer.elf.nodeflib {
            dirs.extend(self.conf.iter().cloned());
            dirs.extend(default_dirs(&arch));
        }
        dirs
    }

    /// What stands at `inside` for a program of `arch`, cached.
    pub fn probe(&mut self, arch: Arch, inside: &Path) -> Probe {
        let key = (arch, inside.to_path_buf());
        if let Some(known) = self.probes.get(&key) {
            return known.clone();
        }
        let answer = match self.read(inside) {
            Ok(elf) => match elf.arch.map(|lib| mismatch(&arch, &lib)) {
                Some(None) => Probe::Found(Rc::new(elf)),
                Some(Some(why)) => Probe::Skipped(why),
                None => Probe::Skipped("no architecture".into()),
            },
            Err(ElfError::Io(err))
                if matches!(
                    err.raw_os_error(),
                    Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                ) =>
            {
                Probe::Absent
            }
            Err(err) => Probe::Skipped(err.to_string()),
        };
        self.probes.insert(key, answer.clone());
        answer
    }
}

/// Why the loader would refuse `lib` for a program of `arch`, or `None` when it would take it.
pub fn mismatch(arch: &Arch, lib: &Arch) -> Option<String> {
    let compatible_abi = |abi: u8| matches!(abi, 0 | 3);
    if lib.class != arch.class {
        let bits = |c: elf::Class| if c == elf::Class::Elf32 { 32 } else { 64 };
        return Some(format!(
            "ELFCLASS{}, not {}",
            bits(lib.class),
            bits(arch.class)
        ));
    }
    if lib.endian != arch.endian {
        let order = |e: Endian| if e == Endian::Little { "little" } else { "big" };
        return Some(format!("{}-endian", order(lib.endian)));
    }
    if lib.machine != arch.machine {
        return Some(format!(
            "{}, not {}",
            elf::machine_name(lib.machine),
            elf::machine_name(arch.machine)
        ));
    }
    if lib.osabi != arch.osabi && !(compatible_abi(lib.osabi) && compatible_abi(arch.osabi)) {
        return Some(format!("OS ABI {}", lib.osabi));
    }
    None
}

/// The loader's built-in directories for this architecture: its multiarch pair, then
/// `/lib`, `/usr/lib`, `/lib64`, `/usr/lib64`.
pub fn default_dirs(arch: &Arch) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(triplet) = elf::triplet(arch) {
        dirs.push(Path::new("/lib").join(triplet));
        dirs.push(Path::new("/usr/lib").join(triplet));
    }
    for dir in ["/lib", "/usr/lib", "/lib64", "/usr/lib64"] {
        dirs.push(PathBuf::from(dir));
    }
    dirs
}

/// A `DT_RPATH`/`DT_RUNPATH` value split at `:`, with `$ORIGIN`, `$LIB` and `$PLATFORM`
/// (and their `${...}` forms) expanded. Empty elements (the cwd, unknowable here) are left out.
pub fn expand(value: &OsStr, origin: &Path, arch: &Arch) -> Vec<PathBuf> {
    let lib = elf::triplet(arch).map_or("lib".to_string(), |t| format!("lib/{t}"));
    let platform = match arch.machine {
        3 => "i686",
        62 => "x86_64",
        183 => "aarch64",
        _ => "",
    };
    let origin = origin.as_os_str().as_bytes();
    let mut out = Vec::new();
    for element in value.as_bytes().split(|&b| b == b':') {
        if element.is_empty() {
            continue;
        }
        let mut path = Vec::new();
        let mut rest = element;
        while let Some(at) = rest.iter().position(|&b| b == b'$') {
            path.extend_from_slice(&rest[..at]);
            rest = &rest[at..];
            let (value, len): (&[u8], usize) = [
                (&b"$ORIGIN"[..], origin),
                (b"${ORIGIN}", origin),
                (b"$LIB", lib.as_bytes()),
                (b"${LIB}", lib.as_bytes()),
                (b"$PLATFORM", platform.as_bytes()),
                (b"${PLATFORM}", platform.as_bytes()),
            ]
            .iter()
            .find(|(token, _)| rest.starts_with(token))
            .map_or((&b"$"[..], 1), |(token, value)| (*value, token.len()));
            path.extend_from_slice(value);
            rest = &rest[len..];
        }
        path.extend_from_slice(rest);
        out.push(PathBuf::from(OsStr::from_bytes(&path)));
    }
    out
}

/// `a/./b/../c` as `a/c` (lexically, as lddtree prints found paths).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Appends the directories of the ld.so.conf file `inside` (read inside ROOT), following
/// `include GLOB` lines (relative ones from the including file's directory), each file once
/// (a file including itself would be endless). A missing or unreadable file adds nothing, as
/// ldconfig carries on.
fn read_conf(root: &Root, inside: &Path, read: &mut HashSet<PathBuf>, out: &mut Vec<PathBuf>) {
    let resolved = root
        .resolve_inside(inside, Last::Follow)
        .unwrap_or_else(|_| inside.to_path_buf());
    if read.len() > 4096 || !read.insert(resolved) {
        return;
    }
    let Ok(file) = root.open_regular(inside) else {
        return;
    };
    let mut text = Vec::new();
    use std::io::Read;
    if file.take(1 << 20).read_to_end(&mut text).is_err() {
        return;
    }
    for line in text.split(|&b| b == b'\n') {
        let line = line.split(|&b| b == b'#').next().unwrap_or_default();
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"hwcap") {
            continue;
        }
        if let Some(pattern) = line.strip_prefix(b"include") {
            if !pattern.first().is_some_and(u8::is_ascii_whitespace) {
                continue;
            }
            for pattern in pattern.split(|b| b.is_ascii_whitespace()) {
                if pattern.is_empty() {
                    continue;
                }
                let pattern = Path::new(OsStr::from_bytes(pattern));
                let pattern = match inside.parent() {
                    Some(dir) if pattern.is_relative() => dir.join(pattern),
                    _ => pattern.to_path_buf(),
                };
                for path in glob(root, &pattern) {
                    read_conf(root, &path, read, out);
                }
            }
            continue;
        }
        for dir in line.split(|&b| b.is_ascii_whitespace() || b == b',' || b == b':') {
            if dir.first() == Some(&b'/') {
                let dir = Path::new(OsStr::from_bytes(dir));
                out.push(normalize(dir));
            }
        }
    }
}

/// The paths inside ROOT matching `pattern` (absolute, wildcards in any component), sorted.
fn glob(root: &Root, pattern: &Path) -> Vec<PathBuf> {
    let mut matches = vec![PathBuf::from("/")];
    for component in pattern.components() {
        let Component::Normal(part) = component else {
            continue;
        };
        let wild = part.as_bytes().iter().any(|b| b"*?[".contains(b));
        let mut next = Vec::new();
        for base in &matches {
            if !wild {
                next.push(base.join(part));
                continue;
            }
            let Ok(host) = root.resolve(base, Last::Follow) else {
                continue;
            };
            let Ok(entries) = std::fs::read_dir(host) else {
                continue;
            };
            let mut names: Vec<OsString> = entries
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| fnmatch(part, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        matches = next;
    }
    matches
}

fn fnmatch(pattern: &OsStr, name: &OsStr) -> bool {
    let (Ok(p), Ok(n)) = (
        std::ffi::CString::new(pattern.as_bytes()),
        std::ffi::CString::new(name.as_bytes()),
    ) else {
        return false;
    };
    // SAFETY: both are NUL-terminated strings that live across the call.
    unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), libc::FNM_PERIOD) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x86_64() -> Arch {
        Arch {
            class: elf::Class::Elf64,
            endian: Endian::Little,
            machine: 62,
            osabi: 0,
            flags: 0,
        }
    }

    #[test]
    fn dynamic_string_tokens_expand() {
        let got = expand(
            OsStr::new("$ORIGIN/../lib:${LIB}/x::/p/$PLATFORM:/a$b"),
            Path::new("/opt/app/bin"),
            &x86_64(),
        );
        let want: Vec<PathBuf> = [
            "/opt/app/bin/../lib",
            "lib/x86_64-linux-gnu/x",
            "/p/x86_64",
            "/a$b",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(got, want);
        assert_eq!(
            normalize(Path::new("/opt/app/bin/../lib/libx.so")),
            Path::new("/opt/app/lib/libx.so")
        );
    }

    #[test]
    fn ld_so_conf_includes_are_globbed_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(etc.join("ld.so.conf.d")).unwrap();
        std::fs::write(
            etc.join("ld.so.conf"),
            "/first\ninclude ld.so.conf.d/*.conf\n",
        )
        .unwrap();
        std::fs::write(etc.join("ld.so.conf.d/b.conf"), "/b # comment\n").unwrap();
        std::fs::write(etc.join("ld.so.conf.d/a.conf"), "/a\n/first\n").unwrap();
        std::fs::write(etc.join("ld.so.conf.d/c.txt"), "/c\n").unwrap();
        let loader = Loader::new(Root::new(dir.path()));
        let want: Vec<PathBuf> = ["/first", "/a", "/b"].iter().map(PathBuf::from).collect();
        assert_eq!(loader.conf, want);
        let mut arch = x86_64();
        arch.machine = 183;
        assert_eq!(default_dirs(&arch)[0], Path::new("/lib/aarch64-linux-gnu"));
        assert!(mismatch(&x86_64(), &arch).is_some());
    }

    #[test]
    fn an_ld_so_conf_including_itself_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/ld.so.conf"),
            "include /etc/ld.so.conf /etc/*.conf\n/x\ninclude ../etc/ld.so.conf\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/ld.so.conf", dir.path().join("etc/again.conf")).unwrap();
        let loader = Loader::new(Root::new(dir.path()));
        assert_eq!(loader.conf, vec![PathBuf::from("/x")]);
    }
}
