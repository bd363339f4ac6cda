//! The messages between the router and a worker process, over the worker's own link.
//!
//! Every task is a chunk: a sequence of argument tuples whose results come back as a sequence
//! (`apply` sends a chunk of one). A worker runs its tasks in the order they arrive and answers
//! each one as soon as it is done, so the first unanswered task of a worker is always the one it
//! is running: when the worker dies, that is the task that failed, and the others can safely go
//! to another worker.

use procvisor_runtime::Failure;
use procvisor_wire::Payload;
use serde::{Deserialize, Serialize};

/// How a worker process is set up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum WorkerMode {
    /// Runs registered functions; `initializer` (a registered function and its arguments) runs
    /// once first.
    Functions {
        initializer: Option<(String, Payload)>,
    },
    /// Hosts one actor of the registered type `actor`, started with `args`; its tasks are the
    /// actor's messages.
    Actor { actor: String, args: Payload },
}

/// Where a worker's actor is in the actor net: its process's path, and its number there.
pub(crate) type ActorAt = (Vec<u32>, u64);

/// Which function a task runs. The router numbers functions per pool and names each one to a
/// worker only once, so a task does not carry a long type name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum TargetRef {
    Known(u32),
    Named(u32, String),
}

/// One task.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskMessage {
    pub(crate) id: u64,
    pub(crate) target: TargetRef,
    pub(crate) args: Payload,
    /// Its answer may wait for the answers of the tasks after it (it has no time limit, whose
    /// clock the router would keep running meanwhile).
    pub(crate) answer_may_wait: bool,
}

/// From the router to a worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// Run these, in order.
    Tasks(Vec<TaskMessage>),
    /// Give these back if they have not started (another worker is idle).
    Revoke(Vec<u64>),
    /// Exit once every task received has been answered.
    Stop,
}

/// From a worker to the router.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToRouter {
    /// Set up and waiting for tasks; for an actor worker, where its actor is.
    Ready(Option<ActorAt>),
    /// Where it keeps the answers it holds back (see `answer_ring`): sent once, before the first.
    AnswerRing(crate::answer_ring::AnswerRing),
    /// The worker's actor asked to stop (or failed, with this): it exits without running the
    /// tasks it was sent, which go to other workers.
    Leaving(Option<Failure>),
    /// The initializer (or the worker type's `init`) failed; the worker exits.
    InitFailed(Failure),
    /// A task's outcome: its encoded results, or why it failed.
    Done {
        id: u64,
        result: Result<Payload, Failure>,
    },
    /// These tasks were given back unstarted (in answer to a revoke).
    Revoked(Vec<u64>),
    /// Several tasks' outcomes, in the order they finished.
    DoneMany(Vec<(u64, Result<Payload, Failure>)>),
}

/// [`ToWorker`] as the router sends it: the same encoding, borrowing the arguments that the
/// router keeps until the task is answered (a task whose worker dies goes to another worker).
#[derive(Debug, Serialize)]
pub(crate) enum ToWorkerOut<'a> {
    Tasks(Vec<TaskOut<'a>>),
    Revoke(&'a [u64]),
    Stop,
}

/// [`TaskMessage`], borrowed.
#[derive(Debug, Serialize)]
pub(crate) struct TaskOut<'a> {
    pub(crate) id: u64,
    pub(crate) target: &'a TargetRef,
    pub(crate) args: &'a Payload,
    pub(crate) answer_may_wait: bool,
}

/// What the router hands to a worker's writer task.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Each task's id, target, arguments, and whether its answer may wait.
    Tasks(Vec<(u64, TargetRef, std::sync::Arc<Payload>, bool)>),
    Revoke(Vec<u64>),
    Stop,
}

impl Outgoing {
    /// The message as it goes on the wire.
    pub(crate) fn wire(&self) -> ToWorkerOut<'_> {
        match self {
            Outgoing::Tasks(tasks) => ToWorkerOut::Tasks(
                tasks
                    .iter()
                    .map(|(id, target, args, answer_may_wait)| TaskOut {
                        id: *id,
                        target,
                        args,
                        answer_may_wait: *answer_may_wait,
                    })
                    .collect(),
            ),
            Outgoing::Revoke(ids) => ToWorkerOut::Revoke(ids),
            Outgoing::Stop => ToWorkerOut::Stop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_borrowed_form_decodes_as_the_owned_form() {
        let args = std::sync::Arc::new(Payload::encode(&[(3_i64,), (4,)][..]).unwrap());
        let out = Outgoing::Tasks(vec![
            (
                7,
                TargetRef::Named(1, "crate::f".into()),
                args.clone(),
                true,
            ),
            (8, TargetRef::Known(1), args, false),
        ]);
        let bytes = procvisor_wire::codec::encode(&out.wire()).unwrap();
        let ToWorker::Tasks(tasks) = procvisor_wire::codec::decode(&bytes).unwrap() else {
            panic!("not a task batch");
        };
        assert_eq!(tasks.len(), 2);
        assert!(matches!(&tasks[0].target, TargetRef::Named(1, name) if name == "crate::f"));
        assert_eq!(tasks[1].id, 8);
        assert!(tasks[0].answer_may_wait && !tasks[1].answer_may_wait);
        assert_eq!(
            tasks[1].args.decode::<Vec<(i64,)>>().unwrap(),
            vec![(3,), (4,)]
        );

        for (out, expected) in [(Outgoing::Revoke(vec![1, 2]), 1), (Outgoing::Stop, 2)] {
            let bytes = procvisor_wire::codec::encode(&out.wire()).unwrap();
            let decoded: ToWorker = procvisor_wire::codec::decode(&bytes).unwrap();
            let index = match decoded {
                ToWorker::Tasks(_) => 0,
                ToWorker::Revoke(ids) => {
                    assert_eq!(ids, vec![1, 2]);
                    1
                }
                ToWorker::Stop => 2,
            };
            assert_eq!(index, expected);
        }
    }

    #[test]
    fn a_slice_of_values_encodes_as_a_sequence_of_one_tuples() {
        // `map` encodes its items as they are; the worker decodes argument tuples.
        let items = [1_i64, -2, 300];
        let as_values = Payload::encode(&items[..]).unwrap();
        let tuples: Vec<(i64,)> = as_values.decode().unwrap();
        assert_eq!(tuples, vec![(1,), (-2,), (300,)]);
    }
}
