//! Plan, apply, journal, undo: putting back exactly what is broken.

pub mod apply;
pub mod execute;
pub mod journal;
pub mod lock;
pub mod plan;
pub mod undo;
