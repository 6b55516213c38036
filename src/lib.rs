//! weft: a local-first, end-to-end encrypted team workspace in the terminal.
//!
//! `model` (the workspace on Loro) is pure; `store` (SQLite) and `cli` do I/O. Dependencies point
//! inward: cli → store → model.
pub mod cli;
pub mod identity;
pub mod model;
pub mod store;
