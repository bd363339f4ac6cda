//! Test support for procvisor's integration tests.
