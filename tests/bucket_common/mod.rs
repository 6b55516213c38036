//! Bucket test support: a real S3 protocol server in-process (s3s + s3s-fs) and a store that
//! injects faults. Only the tests that talk to a bucket include it (it is slow to compile).
#![allow(dead_code)]

pub mod faults;
pub mod memory;
pub mod rig;
pub mod s3;
