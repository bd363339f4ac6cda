//! A pool of actors: each worker process loads a model once (here, a small table of word
//! weights) and then scores texts with it. A broadcast reloads every worker's model between
//! two of its tasks. A worker killed in the middle of a task fails that task alone; its
//! replacement loads the model again, and the pool carries on.
//!
//! Python's `Pool(initializer=load)` keeps the model in a global, cannot tell a worker to
//! reload it, and hangs on the task of a worker that died.

// ANCHOR: example
use procvisor::{Actor, ActorContext, ActorPool, InitError, register_actor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a worker is asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Ask {
    /// Score a text with the loaded model.
    Score(String),
    /// Load this version of the model.
    Reload(u32),
    /// Die in the middle of the task, as a worker killed by the kernel would.
    Die,
}

/// A model: the weight of each word, per version.
struct Scorer {
    version: u32,
    weights: HashMap<String, i64>,
}

fn load(version: u32) -> HashMap<String, i64> {
    let scale = i64::from(version);
    [("good", 2), ("bad", -2), ("fine", 1)]
        .into_iter()
        .map(|(word, weight)| (word.to_string(), weight * scale))
        .collect()
}

impl Actor for Scorer {
    type Args = u32; // the model version to start with
    type Msg = Ask;
    type Reply = (u32, i64); // the model version, and the score

    async fn start(version: u32, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Scorer {
            version,
            weights: load(version),
        })
    }

    async fn handle(&mut self, ask: Ask, _: &ActorContext<Self>) -> (u32, i64) {
        match ask {
            Ask::Score(text) => {
                let score = text
                    .split_whitespace()
                    .filter_map(|word| self.weights.get(word))
                    .sum();
                (self.version, score)
            }
            Ask::Reload(version) => {
                self.version = version;
                self.weights = load(version);
                (version, 0)
            }
            Ask::Die => {
                // SIGKILL, as the out-of-memory killer sends.
                let _ = std::process::Command::new("kill")
                    .args(["-9", &std::process::id().to_string()])
                    .status();
                std::thread::sleep(std::time::Duration::from_secs(10));
                unreachable!("killed")
            }
        }
    }
}
register_actor!(Scorer);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = ActorPool::<Scorer>::new(2, 1)?;
    let texts = ["good good", "bad", "fine and good", "nothing"];
    let scores = pool.map(texts.iter().map(|t| Ask::Score(t.to_string())))?;
    println!("version 1: {scores:?}");

    // Every worker loads version 3, between two of its tasks.
    let reloaded: Vec<u32> = pool
        .broadcast(Ask::Reload(3))
        .into_iter()
        .map(|reply| reply.map(|(version, _)| version))
        .collect::<Result<_, _>>()?;
    println!(
        "reloaded {} workers to version {:?}",
        reloaded.len(),
        reloaded[0]
    );
    let scores = pool.map(texts.iter().map(|t| Ask::Score(t.to_string())))?;
    println!("version 3: {scores:?}");

    // A worker dies under a task: that task fails, with the worker's pid and signal.
    match pool.call(Ask::Die) {
        Ok(_) => println!("the worker survived"),
        Err(lost) => println!("lost: {lost}"),
    }
    // Its replacement started from the pool's arguments: version 1 again, until reloaded.
    let versions: Vec<u32> = pool
        .broadcast(Ask::Score(String::new()))
        .into_iter()
        .map(|reply| reply.map(|(version, _)| version))
        .collect::<Result<_, _>>()?;
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    println!("versions after the replacement: {sorted:?}");
    println!(
        "{} workers, {} replaced",
        pool.processes(),
        pool.stats().crashes
    );
    Ok(())
}
// ANCHOR_END: example
