//! Other lives of the program's binary, beside a spawned child and a fork server: a crate
//! registers a role under an environment variable (a cluster's node agent does), and a binary
//! started with that variable set runs the role instead of `main` (see `bootstrap`).

/// A role of the binary: run instead of `main` when `env` is set, given its value.
#[doc(hidden)]
#[derive(Debug)]
pub struct Role {
    /// The environment variable that selects the role.
    pub env: &'static str,
    /// Runs the role; never returns.
    pub run: fn(String) -> !,
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static ROLES: [Role];

/// The role this process was started in, if any, with its variable's value (removed from the
/// environment, so that the role's own children do not inherit it).
pub(crate) fn chosen() -> Option<(&'static Role, String)> {
    ROLES.iter().find_map(|role| {
        let value = std::env::var(role.env).ok()?;
        // SAFETY: this runs in a constructor, before main, while the process has one thread.
        unsafe { std::env::remove_var(role.env) };
        Some((role, value))
    })
}
