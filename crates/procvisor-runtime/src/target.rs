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
use std::collections::HashMap;
use std::sync::OnceLock;

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
    /// Runs it over a chunk: decode a `Vec` of argument tuples, call for each, encode the
    /// `Vec` of return values (a panic fails the whole chunk).
    pub run_chunk: fn(&Payload) -> Result<Payload, Failure>,
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
    index().get(name).copied()
}

/// Registered functions by name, made on first use.
///
/// Each registration's name comes from a function of its own, somewhere in the program's code.
/// Asking every one of them for its name maps a page of code per registration into the
/// process that asks, which a pool worker would keep for its whole life only to have read a
/// name. The fork server makes this index (and the actors' one) before it forks anything (see
/// [`index_lookups`]), so the children it forks find their targets in memory they share with
/// it.
fn index() -> &'static HashMap<&'static str, &'static Registration> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Registration>> = OnceLock::new();
    INDEX.get_or_init(|| by_name(&REGISTRY, |r| (r.name)()))
}

/// `registrations` by the name `name` gives each. The first of a name registered twice (the
/// same function or type) wins, as a search in order would.
pub(crate) fn by_name<R>(
    registrations: &'static [R],
    name: impl Fn(&R) -> &'static str,
) -> HashMap<&'static str, &'static R> {
    let mut index = HashMap::with_capacity(registrations.len());
    for registration in registrations {
        index.entry(name(registration)).or_insert(registration);
    }
    index
}

/// Makes the indexes of registered functions and actor types now, in a process about to fork
/// children that will look their targets up.
pub(crate) fn index_lookups() {
    index();
    crate::actor::index_lookups();
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
                    use __pv::{ViaExitCode as _, ViaResult as _, ViaOpaqueResult as _, ViaUnit as _, ViaValue as _, ViaOther as _};
                    let returned = __pv::Wrap(__pv::apply(&$target, args));
                    (&&&&&returned).into_outcome()
                })
            }

            fn __run_task(payload: &__pv::Payload) -> ::core::result::Result<__pv::Payload, __pv::Failure> {
                __pv::run_task_target(payload, |args| {
                    #[allow(unused_imports)]
                    use __pv::{TaskViaValue as _, TaskViaOther as _};
                    let returned = __pv::Wrap(__pv::apply(&$target, args));
                    (&&returned).task_result()
                })
            }

                        fn __run_chunk(payload: &__pv::Payload) -> ::core::result::Result<__pv::Payload, __pv::Failure> {
                __pv::run_chunk_target(payload, |items| {
                    #[allow(unused_imports)]
                    use __pv::{TaskViaValue as _, TaskViaOther as _};
                    let results: ::std::vec::Vec<_> =
                        __pv::IntoIterator::into_iter(items).map(|args| __pv::apply(&$target, args)).collect();
                    let returned = __pv::Wrap(results);
                    (&&returned).task_result()
                })
            }

            #[__pv::linkme::distributed_slice(__pv::REGISTRY)]
            #[linkme(crate = __pv::linkme)]
            static __REGISTRATION: __pv::Registration = __pv::Registration {
                name: __name,
                run_process: __run_process,
                run_task: __run_task,
                run_chunk: __run_chunk,
            };
        };
    )+};
}

#[cfg(test)]
mod tests {
    //! Every return type takes the right path through `register!`'s conversions, for a process
    //! target and for a pool task (the trampolines are called directly; no process starts).

    use super::lookup;
    use crate::ExitCode;
    use crate::outcome::FailureKind;
    use procvisor_wire::Payload;

    fn unit() {}
    fn value(x: i64) -> i64 {
        x * 2
    }
    fn ok(x: i64) -> Result<i64, String> {
        Ok(x + 1)
    }
    fn err() -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
        Err("bad input".into())
    }
    fn code() -> ExitCode {
        ExitCode(3)
    }
    struct Opaque;
    fn opaque() -> Opaque {
        Opaque
    }
    fn opaque_err() -> Result<Opaque, String> {
        Err("opaque failure".into())
    }
    fn opaque_ok() -> Result<Opaque, String> {
        Ok(Opaque)
    }
    #[derive(Debug, serde::Serialize)]
    struct NoDisplay;
    fn debug_err() -> Result<i64, NoDisplay> {
        Err(NoDisplay)
    }
    fn boom(x: u8) -> u8 {
        if x > 0 {
            panic!("boom {x}");
        }
        x
    }
    fn two(a: String, b: Vec<u8>) -> (String, usize) {
        (a, b.len())
    }
    register!(
        unit, value, ok, err, code, opaque, boom, two, opaque_err, opaque_ok, debug_err
    );

    fn registration<F>(_: F) -> &'static super::Registration {
        lookup(super::name_of::<F>()).expect("registered above")
    }

    fn args<T: serde::Serialize>(value: T) -> Payload {
        Payload::encode(&value).unwrap()
    }

    #[test]
    fn process_outcomes_follow_the_return_type() {
        let out = (registration(unit).run_process)(&args(()));
        assert_eq!((out.exit_code, out.failure.is_none()), (0, true));
        let out = (registration(value).run_process)(&args((21_i64,)));
        assert_eq!(out.value.unwrap().decode::<i64>().unwrap(), 42);
        let out = (registration(ok).run_process)(&args((1_i64,)));
        assert_eq!(
            out.value.unwrap().decode::<i64>().unwrap(),
            2,
            "Ok carries the inner value"
        );
        let out = (registration(err).run_process)(&args(()));
        assert_eq!(out.exit_code, 1);
        let failure = out.failure.unwrap();
        assert_eq!(
            (failure.kind(), failure.message()),
            (FailureKind::Error, "bad input")
        );
        let out = (registration(code).run_process)(&args(()));
        assert_eq!(out.exit_code, 3);
        let out = (registration(opaque).run_process)(&args(()));
        assert_eq!(
            (out.exit_code, out.value.is_none()),
            (0, true),
            "an unsendable value is dropped"
        );
        let out = (registration(opaque_err).run_process)(&args(()));
        assert_eq!(
            out.exit_code, 1,
            "an Err is a failure even when the Ok type cannot be sent"
        );
        assert!(out.failure.unwrap().message().contains("opaque failure"));
        let out = (registration(opaque_ok).run_process)(&args(()));
        assert_eq!((out.exit_code, out.failure.is_none()), (0, true));
        let out = (registration(debug_err).run_process)(&args(()));
        assert_eq!(
            out.exit_code, 1,
            "an error without Display is described by Debug"
        );
        assert_eq!(out.failure.unwrap().message(), "NoDisplay");

        crate::panics::set_quiet(true);
        let out = (registration(boom).run_process)(&args((7_u8,)));
        crate::panics::set_quiet(false);
        assert_eq!(out.exit_code, 1);
        assert!(out.failure.unwrap().is_panic());
        let out = (registration(two).run_process)(&args(("x".to_string(), vec![1_u8, 2])));
        assert_eq!(
            out.value.unwrap().decode::<(String, usize)>().unwrap(),
            ("x".to_string(), 2)
        );
    }

    #[test]
    fn task_results_encode_the_raw_return_value() {
        let out = (registration(value).run_task)(&args((5_i64,))).unwrap();
        assert_eq!(out.decode::<i64>().unwrap(), 10);
        let out = (registration(ok).run_task)(&args((5_i64,))).unwrap();
        assert_eq!(
            out.decode::<Result<i64, String>>().unwrap(),
            Ok(6),
            "a task's Result is a value"
        );
        let failure = (registration(opaque).run_task)(&args(())).unwrap_err();
        assert_eq!(failure.kind(), FailureKind::Codec);
        crate::panics::set_quiet(true);
        let failure = (registration(boom).run_task)(&args((1_u8,))).unwrap_err();
        crate::panics::set_quiet(false);
        assert_eq!(
            (failure.kind(), failure.message()),
            (FailureKind::Panic, "boom 1")
        );
    }

    #[test]
    fn wrong_arguments_are_a_codec_failure_not_a_crash() {
        let out = (registration(value).run_process)(&args(("not a number",)));
        assert_eq!(out.failure.unwrap().kind(), FailureKind::Codec);
        let failure = (registration(two).run_task)(&args(())).unwrap_err();
        assert_eq!(failure.kind(), FailureKind::Codec);
    }

    #[test]
    fn registered_names_are_listed() {
        let names = super::registered_targets();
        assert!(
            names.iter().any(|n| n.ends_with("tests::value")),
            "{names:?}"
        );
    }
}
