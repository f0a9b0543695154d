//! usage: rescue mkdir ... (not written yet)

use std::ffi::OsString;

pub fn main(name: &'static str, _args: Vec<OsString>) -> i32 {
    super::complain(name, "not implemented yet");
    2
}
