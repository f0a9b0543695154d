//! Where archives come from (a directory of `.deb`s, a mirror tree, an HTTP mirror) and why
//! each one is trusted.
