//! `strftime` in the local zone, for `ls --time-style=+FORMAT` and its built-in styles. The C
//! library formats (glibc and static musl read `TZ` and `/etc/localtime` themselves); `%N`
//! (nanoseconds, a GNU extension `ls` and `date` accept) is expanded here first.

/// `seconds.nanos` formatted by `format`; `None` when the C library cannot convert the time.
pub fn strftime(format: &[u8], seconds: i64, nanos: u32) -> Option<Vec<u8>> {
    let tm = super::localtime::broken_down(seconds)?;
    let mut expanded = Vec::with_capacity(format.len() + 8);
    let mut i = 0;
    while i < format.len() {
        if format[i] == b'%' && i + 1 < format.len() {
            if format[i + 1] == b'N' {
                expanded.extend_from_slice(format!("{nanos:09}").as_bytes());
            } else {
                expanded.extend_from_slice(&format[i..i + 2]);
            }
            i += 2;
        } else {
            expanded.push(format[i]);
            i += 1;
        }
    }
    // A leading byte makes an empty result distinguishable from a failure.
    let mut c_format = vec![b'x'];
    c_format.extend(expanded.iter().map(|&b| if b == 0 { b' ' } else { b }));
    c_format.push(0);
    let mut size = 256;
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` holds `size` bytes, the format is NUL-terminated, `tm` is filled.
        let len =
            unsafe { libc::strftime(buf.as_mut_ptr().cast(), size, c_format.as_ptr().cast(), &tm) };
        if len > 0 {
            buf.truncate(len);
            buf.remove(0);
            return Some(buf);
        }
        if size > 1 << 20 {
            return Some(Vec::new());
        }
        size *= 4;
    }
}
