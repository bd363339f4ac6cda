//! Shared by the pool's integration tests: deadlines that name the step that hung.

#![allow(dead_code, unreachable_pub, unused_imports, missing_docs)]

use std::time::Duration;

pub use procvisor_testing::{wait_until, within};

/// The usual deadline of one test.
pub const LIMIT: Duration = Duration::from_secs(60);
