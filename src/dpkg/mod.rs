//! The dpkg database under ROOT as data: `status`, `info/*.list`, `info/*.md5sums`,
//! `diversions`, `statoverride`. Read without any dpkg binary.
