//! What the manager tests share: a deadline that names the step that hung.

#![allow(unreachable_pub)]

use std::time::Duration;

pub use procvisor_testing::within;

pub const LIMIT: Duration = Duration::from_secs(60);
