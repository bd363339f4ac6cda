//! Python's `multiprocessing` for Rust.
//!
//! ```
//! use procvisor::pipe;
//!
//! let (mut parent, mut child) = pipe(true)?;
//! child.send(&(42, None::<i32>, "hello"))?;
//! let got: (i32, Option<i32>, String) = parent.recv()?;
//! assert_eq!(got, (42, None, "hello".to_string()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use procvisor_wire::{
    Address, AuthenticationError, Client, Connection, ConnectionError, Listener, ListenerBuilder,
    ListenerError, SharedFd, Waitable, pipe, wait, wait_async,
};

/// The lower layers, for what the facade does not re-export.
pub mod wire {
    pub use procvisor_wire::*;
}
