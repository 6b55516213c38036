//! Keystroke → Loro commit → frame rendered (filled in with the benchmark).
fn main() {}
