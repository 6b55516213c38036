//! Sync: the transports that carry signed, encrypted changes between devices.
pub mod blobs;
pub mod bucket;
pub mod lan;
pub mod live;
pub mod moves;
pub mod room;
pub mod seal;
pub mod share;
pub mod worker;
