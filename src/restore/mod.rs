//! Plan, apply, journal, undo: putting back exactly what is broken.

pub mod apply;
pub mod journal;
pub mod undo;
pub mod execute;
pub mod plan;
