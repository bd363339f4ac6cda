//! User-defined worker actors: state built once per worker process, then one call per task.

use procvisor_runtime::__private::pool_support;
use procvisor_runtime::Failure;
use procvisor_runtime::FailureKind;
use procvisor_wire::Payload;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The error a [`Worker::init`] may return (the same as an actor's start).
pub use procvisor_runtime::InitError;

/// A worker actor: the state of one worker process and the handler of its tasks.
///
/// Each worker process builds its own value with [`init`](Self::init) (from the arguments the
/// pool was built with), then calls [`handle`](Self::handle) for every task it receives, one at
/// a time, in the order they arrive. Use it for what is expensive to set up and cheap to reuse:
/// a loaded model, a compiled regex set, a database connection, a cache.
///
/// Register the type with [`register_worker!`](crate::register_worker) and build a pool of it
/// with [`PoolBuilder::build_workers`](crate::PoolBuilder::build_workers):
///
/// ```
/// use procvisor_pool::{InitError, Pool, Worker, register_worker};
///
/// /// Counts the words of a text that belong to a vocabulary.
/// struct Counter {
///     vocabulary: std::collections::HashSet<String>,
/// }
///
/// impl Worker for Counter {
///     type Init = Vec<String>;
///     type Task = String;
///     type Output = usize;
///
///     fn init(words: Vec<String>) -> Result<Self, InitError> {
///         Ok(Counter { vocabulary: words.into_iter().collect() })
///     }
///
///     fn handle(&mut self, text: String) -> usize {
///         text.split_whitespace().filter(|w| self.vocabulary.contains(*w)).count()
///     }
/// }
/// register_worker!(Counter);
///
/// let pool = Pool::builder()
///     .processes(2)
///     .build_workers::<Counter>(vec!["cat".into(), "dog".into()])?;
/// assert_eq!(pool.call("a cat and a dog and a cat".into())?, 3);
/// let counts = pool.map(vec!["cat".into(), "bird".into(), "dog dog".into()])?;
/// assert_eq!(counts, vec![1, 0, 2]);
/// # Ok::<(), procvisor_pool::PoolError>(())
/// ```
///
/// A panic in `handle` fails that task (with its message and location) and the worker goes
/// on with the same state. An error from `init` makes the worker exit; the pool restarts it
/// within its restart intensity, then reports itself broken with the error as the cause.
pub trait Worker: Sized + 'static {
    /// What every worker process is built from.
    type Init: Serialize + DeserializeOwned + Send + 'static;
    /// One task.
    type Task: Serialize + DeserializeOwned + Send + 'static;
    /// What a task returns to the caller.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// Builds the worker's state, in the worker process.
    ///
    /// # Errors
    ///
    /// Any error: the worker exits and the pool counts a crash.
    fn init(init: Self::Init) -> Result<Self, InitError>;

    /// Handles one task.
    fn handle(&mut self, task: Self::Task) -> Self::Output;
}

/// A worker type's entry in the table [`register_worker!`](crate::register_worker) fills.
#[doc(hidden)]
#[derive(Debug)]
pub struct WorkerRegistration {
    pub name: fn() -> &'static str,
    pub start: fn(&Payload) -> Result<Box<dyn ErasedWorker>, Failure>,
}

#[doc(hidden)]
#[linkme::distributed_slice]
pub static WORKERS: [WorkerRegistration];

/// A worker with its types erased, as the worker process drives it.
#[doc(hidden)]
pub trait ErasedWorker {
    /// Decodes a chunk of tasks, handles each, encodes the outputs.
    fn run_chunk(&mut self, tasks: &Payload) -> Result<Payload, Failure>;
}

impl<W: Worker> ErasedWorker for W {
    fn run_chunk(&mut self, tasks: &Payload) -> Result<Payload, Failure> {
        let tasks: Vec<W::Task> = tasks.decode().map_err(|e| {
            pool_support::failure(FailureKind::Codec, format!("cannot decode the task: {e}"))
        })?;
        let outputs = pool_support::catch_panic(|| {
            tasks
                .into_iter()
                .map(|task| self.handle(task))
                .collect::<Vec<_>>()
        })?;
        Payload::encode(&outputs).map_err(|e| {
            pool_support::failure(FailureKind::Codec, format!("cannot encode the output: {e}"))
        })
    }
}

fn start_worker<W: Worker>(init: &Payload) -> Result<Box<dyn ErasedWorker>, Failure> {
    let init: W::Init = init.decode().map_err(|e| {
        pool_support::failure(
            FailureKind::Codec,
            format!("cannot decode the worker's init arguments: {e}"),
        )
    })?;
    match pool_support::catch_panic(|| W::init(init))? {
        Ok(worker) => Ok(Box::new(worker)),
        Err(e) => Err(pool_support::failure(FailureKind::Error, e.to_string())),
    }
}

/// The registration of `W` (what [`register_worker!`](crate::register_worker) expands to).
#[doc(hidden)]
pub const fn worker_registration<W: Worker>() -> WorkerRegistration {
    WorkerRegistration {
        name: std::any::type_name::<W>,
        start: start_worker::<W>,
    }
}

/// The registered worker type named `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static WorkerRegistration> {
    WORKERS.iter().find(|r| (r.name)() == name)
}

/// Registers [`Worker`] types so that pool worker processes can build them.
///
/// Put it next to the type, at module level. Like [`register!`](procvisor_runtime::register),
/// it is resolved by the linker: no setup in `main`.
///
/// ```
/// use procvisor_pool::{InitError, Worker, register_worker};
///
/// struct Doubler;
/// impl Worker for Doubler {
///     type Init = ();
///     type Task = i64;
///     type Output = i64;
///     fn init((): ()) -> Result<Self, InitError> {
///         Ok(Doubler)
///     }
///     fn handle(&mut self, x: i64) -> i64 {
///         2 * x
///     }
/// }
/// register_worker!(Doubler);
/// ```
#[macro_export]
macro_rules! register_worker {
    ($($worker:ty),+ $(,)?) => {$(
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::__private::WORKERS)]
            #[linkme(crate = $crate::__private::linkme)]
            static __WORKER: $crate::__private::WorkerRegistration =
                $crate::__private::worker_registration::<$worker>();
        };
    )+};
}
