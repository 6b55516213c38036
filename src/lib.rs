//! weft: a local-first, end-to-end encrypted team workspace in the terminal.
//!
//! `model` (the workspace on Loro), `acl` (membership and access control) and `crypto`
//! (signed envelopes) are pure; `store` (SQLite), `sync` (the bucket and relay transports), `relay`
//! (the WebSocket relay server), `tui` (the terminal UI) and `cli` do I/O.
//! Dependencies point inward: cli → tui → store → model.
pub mod acl;
pub mod cli;
pub mod crypto;
pub mod identity;
pub mod model;
pub mod relay;
pub mod store;
pub mod sync;
pub mod tui;
