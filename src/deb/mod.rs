//! `.deb` archives: ar members, decompression (gz, xz, zst, bz2, none), tar entries streamed
//! without unpacking to disk.
