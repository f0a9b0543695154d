//! The seeded kit: `/srv/rescue` on a healthy host, made by `rescue seed` before the bad day.
//! It holds the binary, an archive store of the installed versions' `.deb`s, a baseline of
//! every package-owned path's metadata, and copies of the host's own account and dpkg state.

pub mod baseline;
