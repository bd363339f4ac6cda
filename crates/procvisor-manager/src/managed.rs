//! Custom types served by a manager: Python's `BaseManager.register(typeid, callable,
//! exposed)`, with the exposed methods as a request enum the compiler checks.

use crate::protocol::Response;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A type whose objects live in a manager process and are used through a
/// [`Proxy`](crate::Proxy). Register it with [`register_managed!`](crate::register_managed).
///
/// ```
/// use procvisor_manager::{Managed, Manager, register_managed};
/// use serde::{Deserialize, Serialize};
///
/// /// A running total, kept in the manager.
/// struct Total(i64);
///
/// #[derive(Serialize, Deserialize)]
/// enum TotalRequest { Add(i64), Get }
///
/// impl Managed for Total {
///     type Args = i64;
///     type Request = TotalRequest;
///     type Response = i64;
///
///     fn create(start: i64) -> Result<Self, String> {
///         Ok(Total(start))
///     }
///
///     fn handle(&mut self, request: TotalRequest) -> Result<i64, String> {
///         if let TotalRequest::Add(n) = request {
///             self.0 = self.0.checked_add(n).ok_or("OverflowError: the total overflowed")?;
///         }
///         Ok(self.0)
///     }
/// }
/// register_managed!(Total);
///
/// # fn main() -> Result<(), procvisor_manager::ManagerError> {
/// let manager = Manager::start()?;
/// let total = manager.create::<Total>(40)?;
/// total.call(TotalRequest::Add(2))?;
/// assert_eq!(total.call(TotalRequest::Get)?, 42);
/// assert!(total.call(TotalRequest::Add(i64::MAX)).unwrap_err().is_remote("OverflowError"));
/// # Ok(())
/// # }
/// ```
pub trait Managed: Send + Sized + 'static {
    /// What an object is created from.
    type Args: Serialize + DeserializeOwned;
    /// The exposed methods, with their arguments.
    type Request: Serialize + DeserializeOwned;
    /// What a method returns.
    type Response: Serialize + DeserializeOwned;

    /// Creates an object, in the manager process. An `Err` is the caller's error.
    ///
    /// # Errors
    ///
    /// Whatever the type decides; it reaches the caller as
    /// [`ManagerError::Remote`](crate::ManagerError::Remote).
    fn create(args: Self::Args) -> Result<Self, String>;

    /// Runs one method, in the manager process. Calls on one object run one at a time.
    ///
    /// # Errors
    ///
    /// Whatever the method raises; it reaches the caller as
    /// [`ManagerError::Remote`](crate::ManagerError::Remote), and the object stays usable.
    fn handle(&mut self, request: Self::Request) -> Result<Self::Response, String>;
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "it panicked".into())
}

/// A managed object without its type.
pub(crate) trait ErasedManaged: Send {
    fn call(&mut self, request: &[u8]) -> Response;
}

impl<M: Managed> ErasedManaged for M {
    fn call(&mut self, request: &[u8]) -> Response {
        let request = match procvisor_wire::codec::decode::<M::Request>(request) {
            Ok(request) => request,
            Err(e) => return Response::Error(crate::error::remote("TypeError", e)),
        };
        // A panicking method is an error for its caller; the object and the manager live on.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(request))) {
            Ok(Ok(response)) => match procvisor_wire::codec::encode(&response) {
                Ok(bytes) => Response::Bytes(bytes),
                Err(e) => Response::Error(crate::error::remote("TypeError", e)),
            },
            Ok(Err(message)) => Response::Error(message),
            Err(panic) => Response::Error(crate::error::remote("panic", panic_message(&*panic))),
        }
    }
}

type CreateErased = fn(&[u8]) -> Result<Box<dyn ErasedManaged>, String>;

/// One registered type (made by [`register_managed!`](crate::register_managed)).
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct ManagedRegistration {
    pub(crate) typeid: fn() -> &'static str,
    pub(crate) create: CreateErased,
}

#[doc(hidden)]
pub const fn managed_registration<M: Managed>() -> ManagedRegistration {
    ManagedRegistration {
        typeid: std::any::type_name::<M>,
        create: |args| {
            let args = procvisor_wire::codec::decode::<M::Args>(args)
                .map_err(|e| crate::error::remote("TypeError", e))?;
            let object = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| M::create(args)))
                .map_err(|panic| crate::error::remote("panic", panic_message(&*panic)))??;
            Ok(Box::new(object))
        },
    }
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static MANAGED: [ManagedRegistration];

pub(crate) fn lookup(typeid: &str) -> Option<&'static ManagedRegistration> {
    MANAGED.iter().find(|r| (r.typeid)() == typeid)
}

/// Registers types that implement [`Managed`], so that a manager process (started with any
/// method) can create them: Python's `BaseManager.register`.
#[macro_export]
macro_rules! register_managed {
    ($($managed:ty),+ $(,)?) => {$(
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::__private::MANAGED)]
            #[linkme(crate = $crate::__private::linkme)]
            static __MANAGED: $crate::__private::ManagedRegistration =
                $crate::__private::managed_registration::<$managed>();
        };
    )+};
}
