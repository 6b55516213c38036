//! Sync: the transports that carry signed, encrypted changes between devices.
pub mod blobs;
pub mod bucket;
pub mod share;
pub mod worker;
