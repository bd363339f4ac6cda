//! What a child process runs: functions registered by name at compile time.
//!
//! [`register!`](crate::register) puts a function into a table that the linker assembles from
//! every crate of the program (the same binary runs on both sides of a spawn, so both sides have
//! the same table). A parent names the function by its type's name; the child looks the name up
//! and calls it with the decoded arguments. A target that was never registered is refused at the
//! call site, with the fix in the message.

use crate::outcome::{ChildOutcome, Failure};
use procvisor_wire::Payload;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A function a process or pool worker can run with arguments `Args` (a tuple).
///
/// Implemented for every `Fn` of up to eight arguments whose argument types can be encoded;
/// `Args` is the tuple of those types. You never implement it yourself.
pub trait Target<Args>: Send + Sync + 'static {
    /// What the function returns.
    type Output;

    /// Calls the function.
    fn call(&self, args: Args) -> Self::Output;
}

macro_rules! impl_target {
    ($($arg:ident),*) => {
        impl<Func, Ret, $($arg),*> Target<($($arg,)*)> for Func
        where
            Func: Fn($($arg),*) -> Ret + Send + Sync + 'static,
            $($arg: Serialize + DeserializeOwned + Send + 'static,)*
        {
            type Output = Ret;

            #[allow(non_snake_case)]
            fn call(&self, ($($arg,)*): ($($arg,)*)) -> Ret {
                self($($arg),*)
            }
        }
    };
}

impl_target!();
impl_target!(A1);
impl_target!(A1, A2);
impl_target!(A1, A2, A3);
impl_target!(A1, A2, A3, A4);
impl_target!(A1, A2, A3, A4, A5);
impl_target!(A1, A2, A3, A4, A5, A6);
impl_target!(A1, A2, A3, A4, A5, A6, A7);
impl_target!(A1, A2, A3, A4, A5, A6, A7, A8);

/// One registered function.
#[doc(hidden)]
#[derive(Debug)]
pub struct Registration {
    /// The function's type name, which identifies it on both sides.
    pub name: fn() -> &'static str,
    /// Runs it as a process target: decode the arguments, call, turn the return value into an
    /// outcome with an exit code.
    pub run_process: fn(&Payload) -> ChildOutcome,
    /// Runs it as a pool task: decode the arguments, call, encode the return value.
    pub run_task: fn(&Payload) -> Result<Payload, Failure>,
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static REGISTRY: [Registration];

/// The name a target is registered under.
pub(crate) fn name_of<F>() -> &'static str {
    std::any::type_name::<F>()
}

/// Finds a registered function by name.
pub(crate) fn lookup(name: &str) -> Option<&'static Registration> {
    REGISTRY.iter().find(|r| (r.name)() == name)
}

/// Every registered name, for error messages and introspection.
pub fn registered_targets() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = REGISTRY.iter().map(|r| (r.name)()).collect();
    names.sort_unstable();
    names
}

/// Registers functions so that child processes can run them.
///
/// Put it next to the functions, at module level, once per function (registering one twice is
/// harmless but pointless). The functions must be plain `fn` items (not closures) whose
/// arguments can be encoded with serde; their return value is what the parent receives.
///
/// ```
/// fn square(x: i64) -> i64 {
///     x * x
/// }
/// fn greet(name: String) {
///     println!("hello {name}");
/// }
/// procvisor_runtime::register!(square, greet);
/// ```
///
/// Registration is resolved by the linker at build time; there is no setup call in `main`. A
/// child process started with `spawn` or `forkserver` is diverted to its target before `main`
/// runs, so code in `main` never runs twice (Python needs `if __name__ == '__main__'` for that).
#[macro_export]
macro_rules! register {
    ($($target:path),+ $(,)?) => {$(
        const _: () = {
            use $crate::__private as __pv;

            fn __name() -> &'static str {
                __pv::type_name_of(&$target)
            }

            fn __run_process(payload: &__pv::Payload) -> __pv::ChildOutcome {
                __pv::run_process_target(payload, |args| {
                    #[allow(unused_imports)]
                    use __pv::{ViaExitCode as _, ViaResult as _, ViaValue as _, ViaOther as _};
                    let returned = __pv::Wrap(__pv::apply(&$target, args));
                    (&&&&returned).into_outcome()
                })
            }

            fn __run_task(payload: &__pv::Payload) -> ::core::result::Result<__pv::Payload, __pv::Failure> {
                __pv::run_task_target(payload, |args| {
                    #[allow(unused_imports)]
                    use __pv::{TaskViaValue as _, TaskViaOther as _};
                    let returned = __pv::Wrap(__pv::apply(&$target, args));
                    (&&returned).into_task_result()
                })
            }

            #[__pv::linkme::distributed_slice(__pv::REGISTRY)]
            #[linkme(crate = __pv::linkme)]
            static __REGISTRATION: __pv::Registration = __pv::Registration {
                name: __name,
                run_process: __run_process,
                run_task: __run_task,
            };
        };
    )+};
}
