//! For the ss and ip tests: a host whose sandbox gives no netlink socket.

/// A python3 program that runs its arguments with every `socket(AF_NETLINK, ...)` refused
/// (EAFNOSUPPORT) by a seccomp filter: a host whose sandbox has no netlink.
pub const WITHOUT_NETLINK: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
# nr == socket (41, x86_64) and args[0] == AF_NETLINK (16): fail with EAFNOSUPPORT (97).
program = [(0x20, 0, 0, 0), (0x15, 0, 3, 41), (0x20, 0, 0, 16), (0x15, 0, 1, 16),
           (0x06, 0, 0, 0x00050000 | 97), (0x06, 0, 0, 0x7fff0000)]
code = ctypes.create_string_buffer(b''.join(struct.pack('HBBI', *op) for op in program))
fprog = ctypes.create_string_buffer(struct.pack('HxxxxxxQ', len(program), ctypes.addressof(code)))
arg = ctypes.c_ulong
assert libc.prctl(38, arg(1), arg(0), arg(0), arg(0)) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, arg(2), arg(ctypes.addressof(fprog)), arg(0), arg(0)) == 0  # seccomp filter
os.execv(sys.argv[1], sys.argv[1:])
"#;
