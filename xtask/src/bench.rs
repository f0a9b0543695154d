//! `cargo xtask bench`: rescue beside its peers, on the same input in one run, as ratios.
pub fn run(_args: &[String]) -> crate::Result {
    Err("bench: not written yet".into())
}
