//! The calls every pool offers, in one place: one task (`apply`), a list cut into chunks
//! (`map`, `map_async`), and a lazy stream of chunks (`imap`). A function pool and a worker
//! pool differ only in what a chunk's items are: argument tuples or tasks.

use crate::async_result::{AsyncResult, decode_all, decode_one};
use crate::chunk_stream::ChunkStream;
use crate::completion::Completion;
use crate::core::{CallSettings, Core, Target};
use crate::error::{PoolError, TaskInfo};
use crate::imap::{Imap, NextChunk};
use crate::options::{Progress, TaskOptions, checked_chunksize, default_chunksize, default_window};
use procvisor_wire::Payload;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One call on a pool: where it goes and with which options.
pub(crate) struct Call<'c> {
    pub(crate) core: &'c Core,
    pub(crate) target: Target,
    pub(crate) options: &'c TaskOptions,
}

/// Encodes a chunk of items (argument tuples, or a worker's tasks).
pub(crate) fn encode_chunk<T: Serialize>(
    target: &Target,
    items: &[T],
) -> Result<Payload, PoolError> {
    Payload::encode(items).map_err(|e| PoolError::Arguments {
        target: target.short.to_string(),
        message: e.to_string(),
    })
}

impl Call<'_> {
    fn settings(&self) -> CallSettings {
        let shared = &self.core.shared;
        CallSettings {
            retries: self.options.retries.unwrap_or(shared.retries),
            time_limit: self.options.time_limit.unwrap_or(shared.time_limit),
        }
    }

    fn chunksize(&self, items: usize) -> Result<usize, PoolError> {
        match self.options.chunksize {
            Some(chunksize) => checked_chunksize(chunksize),
            None => Ok(default_chunksize(items, self.core.shared.processes)),
        }
    }

    /// One task with one item.
    pub(crate) fn apply_async<T: Serialize, R: DeserializeOwned>(
        &self,
        item: &T,
    ) -> Result<AsyncResult<R>, PoolError> {
        self.core.check()?;
        let args = encode_chunk(&self.target, std::slice::from_ref(item))?;
        let completion = Completion::new(1, self.core.shared.callbacks.clone());
        let job = self.core.job(
            &self.target,
            args,
            completion.clone(),
            0,
            None,
            &self.settings(),
        );
        let info = job.info.clone();
        self.core.submit(vec![job])?;
        Ok(AsyncResult::new(completion, decode_one::<R>, info))
    }

    /// Every item, in chunks, as one result.
    pub(crate) fn map_async<T: Serialize, R: DeserializeOwned>(
        &self,
        items: &[T],
    ) -> Result<AsyncResult<Vec<R>>, PoolError> {
        self.core.check()?;
        let chunksize = self.chunksize(items.len())?;
        let chunks: Vec<&[T]> = items.chunks(chunksize).collect();
        let completion = Completion::new(chunks.len(), self.core.shared.callbacks.clone());
        let settings = self.settings();
        let mut jobs = Vec::with_capacity(chunks.len());
        for (part, chunk) in chunks.iter().enumerate() {
            let args = encode_chunk(&self.target, chunk)?;
            let start = part * chunksize;
            jobs.push(self.core.job(
                &self.target,
                args,
                completion.clone(),
                part as u64,
                Some(start..start + chunk.len()),
                &settings,
            ));
        }
        let info = jobs.first().map_or_else(
            || self.whole(items.len()),
            |job| TaskInfo {
                items: Some(0..items.len()),
                ..job.info.clone()
            },
        );
        self.core.submit(jobs)?;
        Ok(AsyncResult::new(completion, decode_all::<R>, info))
    }

    fn whole(&self, len: usize) -> TaskInfo {
        TaskInfo {
            id: 0,
            target: self.target.short.clone(),
            items: Some(0..len),
            attempts: 1,
        }
    }

    /// Every item, in chunks; waits, decoding chunks as they arrive (while the workers compute
    /// the others). The first error in input order wins, after every chunk has finished.
    pub(crate) fn map<T: Serialize, R: DeserializeOwned>(
        &self,
        items: &[T],
    ) -> Result<Vec<R>, PoolError> {
        self.core.check()?;
        let chunksize = self.chunksize(items.len())?;
        let stream = ChunkStream::new();
        let settings = self.settings();
        let chunk_count = items.len().div_ceil(chunksize);
        // Submitted a few at a time: the first workers start while the rest is encoded.
        let mut pending = Vec::new();
        for (part, chunk) in items.chunks(chunksize).enumerate() {
            let args = encode_chunk(&self.target, chunk)?;
            let start = part * chunksize;
            pending.push(self.core.job(
                &self.target,
                args,
                stream.clone(),
                part as u64,
                Some(start..start + chunk.len()),
                &settings,
            ));
            if part < self.core.shared.processes || pending.len() >= 16 {
                self.core.submit(std::mem::take(&mut pending))?;
            }
        }
        self.core.submit(pending)?;

        let mut chunks: Vec<Option<Vec<R>>> = (0..chunk_count).map(|_| None).collect();
        let mut first_error: Option<(u64, PoolError)> = None;
        let mut done = 0_u64;
        let total = Some(items.len() as u64);
        for _ in 0..chunk_count {
            let (part, outcome) = stream.next(None).expect("waits without a deadline");
            let len = chunk_len(part, chunksize, items.len());
            let decoded = outcome.and_then(|payload| {
                payload.decode::<Vec<R>>().map_err(|e| PoolError::Result {
                    task: self.whole(items.len()),
                    message: e.to_string(),
                })
            });
            match decoded {
                Ok(values) => chunks[part as usize] = Some(values),
                Err(error) => {
                    if first_error.as_ref().is_none_or(|(first, _)| part < *first) {
                        first_error = Some((part, error));
                    }
                }
            }
            done += len as u64;
            self.report(Progress { done, total });
        }
        if let Some((_, error)) = first_error {
            return Err(error);
        }
        Ok(chunks.into_iter().flatten().flatten().collect())
    }

    fn report(&self, progress: Progress) {
        if let Some(hook) = &self.options.progress {
            hook(progress);
        }
    }

    /// A lazy, windowed stream of results.
    pub(crate) fn imap<'a, T, R>(
        &self,
        items: impl Iterator<Item = T> + Send + 'a,
        ordered: bool,
    ) -> Result<Imap<'a, R>, PoolError>
    where
        T: Serialize + Send + 'a,
        R: DeserializeOwned,
    {
        self.core.check()?;
        let chunksize = checked_chunksize(self.options.chunksize.unwrap_or(1))?;
        let window = match self.options.window {
            Some(0) => {
                return Err(PoolError::InvalidArgument(
                    "the window must hold at least one chunk".into(),
                ));
            }
            Some(window) => window,
            None => default_window(self.core.shared.processes),
        };
        let total = match items.size_hint() {
            (low, Some(high)) if low == high => Some(low as u64),
            _ => None,
        };
        let target = self.target.clone();
        let mut items = items.peekable();
        let next_chunk: NextChunk<'a> = Box::new(move || {
            items.peek()?;
            let chunk: Vec<T> = items.by_ref().take(chunksize).collect();
            Some((chunk.len(), encode_chunk(&target, &chunk)))
        });
        Ok(Imap::new(
            self.core.clone(),
            self.target.clone(),
            self.settings(),
            next_chunk,
            ordered,
            window,
            total,
            self.options.progress.clone(),
        ))
    }
}

/// How many items chunk `part` holds.
fn chunk_len(part: u64, chunksize: usize, items: usize) -> usize {
    let start = part as usize * chunksize;
    chunksize.min(items.saturating_sub(start))
}
