//! Descriptors that belong to this process alone: the parent's ends of its links to children and
//! to the fork server, and a pool's ends of its workers' links.
//!
//! A child started with `fork` inherits every descriptor of its parent. Those ends must not stay
//! open in it: a copy held elsewhere keeps a link from ever reading end of file. So each such
//! end is owned by a [`ParentOnly`], which lists its descriptor for forked children to close and
//! takes it off the list before the descriptor itself closes. The list only ever names open
//! descriptors of live owners, so a forked child can never close a number that has since been
//! reused for something else.

use crate::node::node;
use procvisor_wire::Connection;

/// A connection that forked children close at once (see the module documentation).
#[derive(Debug)]
pub struct ParentOnly(Connection);

impl ParentOnly {
    /// Takes `conn`, listing its descriptor for forked children to close.
    pub fn new(conn: Connection) -> ParentOnly {
        if let Ok(fd) = conn.fileno() {
            node().close_in_fork_children(fd);
        }
        ParentOnly(conn)
    }
}

impl std::ops::Deref for ParentOnly {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl std::ops::DerefMut for ParentOnly {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

impl Drop for ParentOnly {
    fn drop(&mut self) {
        // Off the list before the descriptor closes (just after this), never after.
        if let Ok(fd) = self.0.fileno() {
            node().forget_fork_close(fd);
        }
    }
}
