//! One pool a host runs for a router: an ordinary local pool, the tasks it took (each run
//! once, however often it is sent), and which of them its workers run now.

use crate::protocol::PoolBeat;
use procvisor_pool::Pool;
use procvisor_pool::remote::{RemoteFailure, RemoteOutcome, RemoteTask};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use tokio::sync::mpsc::UnboundedSender;

/// One pool this host runs for a router.
pub(super) struct HostedPool {
    pub(super) name: String,
    pub(super) incarnation: u64,
    pub(super) slots: usize,
    pub(super) pool: Mutex<Option<Pool>>,
    pub(super) work: Mutex<Work>,
    pub(super) done: UnboundedSender<(u64, RemoteOutcome)>,
}

#[derive(Default)]
pub(super) struct Work {
    /// The tasks taken and not answered: their numbers in the local pool, by remote id.
    local: HashMap<u64, u64>,
    /// Every task id taken (a repeated dispatch is not run twice).
    seen: HashSet<u64>,
    pub(super) closed: bool,
}

impl HostedPool {
    pub(super) fn work(&self) -> std::sync::MutexGuard<'_, Work> {
        self.work.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `tasks` (those not seen before) into the local pool, which queues them at its
    /// workers as a local pool does; the ids taken.
    pub(super) fn take(&self, tasks: Vec<RemoteTask>) -> Vec<u64> {
        let mut ids = Vec::with_capacity(tasks.len());
        let pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        for task in tasks {
            let id = task.id;
            ids.push(id);
            {
                let mut work = self.work();
                if work.closed || !work.seen.insert(id) {
                    continue;
                }
            }
            let done = self.done.clone();
            let submitted = match pool.as_ref() {
                Some(pool) => pool.run_remote(
                    task,
                    Box::new(move |outcome| {
                        let _ = done.send((id, outcome));
                    }),
                ),
                None => continue,
            };
            match submitted {
                Ok(Some(local)) => {
                    self.work().local.insert(id, local);
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = self
                        .done
                        .send((id, Err(RemoteFailure::Refused(e.to_string()))));
                }
            }
        }
        ids
    }

    /// The remote ids of the tasks a worker runs now (not those queued behind them). It asks
    /// the local pool's router and waits for the answer (microseconds, at most a second):
    /// from async code, through [`block_in_place`](tokio::task::block_in_place), so that the
    /// agent's other tasks (its heartbeats first) move to another thread meanwhile.
    pub(super) fn running(&self) -> Vec<u64> {
        tokio::task::block_in_place(|| self.running_here())
    }

    fn running_here(&self) -> Vec<u64> {
        let local = match self.pool.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(pool) => pool.running_tasks(),
            None => return Vec::new(),
        };
        let work = self.work();
        let by_local: HashMap<u64, u64> = work.local.iter().map(|(&r, &l)| (l, r)).collect();
        local
            .iter()
            .filter_map(|l| by_local.get(l).copied())
            .collect()
    }

    /// Forgets answered tasks.
    pub(super) fn answered(&self, ids: &[u64]) {
        let mut work = self.work();
        for id in ids {
            work.local.remove(id);
        }
    }

    /// Stops the workers now (what they run is lost) and sends nothing more.
    pub(super) fn kill(&self) {
        self.work().closed = true;
        let pool = self.pool.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(pool) = pool {
            std::thread::spawn(move || drop(pool));
        }
    }

    /// Lets the workers finish what they run, then stops them.
    pub(super) fn close(&self) {
        let pool = self.pool.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(pool) = pool {
            std::thread::spawn(move || {
                pool.close();
                let _ = pool.join();
            });
        }
    }

    pub(super) fn beat(&self) -> PoolBeat {
        PoolBeat {
            pool: self.name.clone(),
            incarnation: self.incarnation,
            running: self.running(),
        }
    }
}
