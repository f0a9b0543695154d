//! Plan, apply, journal, undo: putting back exactly what is broken.
