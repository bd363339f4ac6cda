//! The calls every pool offers, in one place: one task (`apply`), a list cut into chunks
//! (`map`, `map_async`), and a lazy stream of chunks (`imap`). A function pool and a worker
//! pool differ only in what a chunk's items are: argument tuples or tasks.

use crate::async_result::{
    AsyncResult, Decoder, decode_all, decode_one, decode_part, decode_parts,
};
use crate::chunk_stream::ChunkStream;
use crate::completion::Completion;
use crate::core::{CallSettings, Core, Target};
use crate::error::{PoolError, TaskInfo};
use crate::imap::{Imap, NextChunk};
use crate::options::{Chunker, Progress, TaskOptions, checked_chunksize, default_window};
use crate::sink::Sink;
use procvisor_wire::Payload;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

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
    encode_chunk_sized(target, items, 0)
}

/// [`encode_chunk`] into room for `capacity` bytes (see [`Payload::encode_sized`]).
fn encode_chunk_sized<T: Serialize>(
    target: &Target,
    items: &[T],
    capacity: usize,
) -> Result<Payload, PoolError> {
    Payload::encode_sized(items, capacity).map_err(|e| PoolError::Arguments {
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

    /// One task with one item.
    pub(crate) fn apply_async<T: Serialize, R: DeserializeOwned>(
        &self,
        item: &T,
    ) -> Result<AsyncResult<R>, PoolError> {
        self.apply_claimed(item, None)
    }

    /// One task with one item, which `claim` can take back until a worker has it.
    pub(crate) fn apply_claimed<T: Serialize, R: DeserializeOwned>(
        &self,
        item: &T,
        claim: Option<Arc<crate::claim::Claim>>,
    ) -> Result<AsyncResult<R>, PoolError> {
        self.core.check()?;
        let args = encode_chunk(&self.target, std::slice::from_ref(item))?;
        self.submit_one(args, claim, decode_one::<R>)
    }

    /// One task whose chunk (a sequence of one argument tuple) is encoded already; its result
    /// is the encoded sequence of one value.
    pub(crate) fn apply_encoded(&self, args: Payload) -> Result<AsyncResult<Payload>, PoolError> {
        self.core.check()?;
        self.submit_one(args, None, decode_part)
    }

    fn submit_one<R: DeserializeOwned>(
        &self,
        args: Payload,
        claim: Option<Arc<crate::claim::Claim>>,
        decode: Decoder<R>,
    ) -> Result<AsyncResult<R>, PoolError> {
        let completion = Completion::new(1, self.core.shared.callbacks.clone());
        let mut job = self.core.job(
            &self.target,
            args,
            completion.clone(),
            0,
            None,
            &self.settings(),
        );
        job.claim = claim;
        let info = job.info.clone();
        self.core.submit(vec![job])?;
        Ok(AsyncResult::new(completion, decode, info))
    }

    /// Chunks encoded already (each a sequence of argument tuples, with its number of items),
    /// one task each; the result is each chunk's encoded sequence of values, in order.
    pub(crate) fn map_encoded(
        &self,
        chunks: Vec<(Payload, usize)>,
    ) -> Result<AsyncResult<Vec<Payload>>, PoolError> {
        self.core.check()?;
        let completion = Completion::new(chunks.len(), self.core.shared.callbacks.clone());
        let settings = self.settings();
        let mut start = 0;
        let mut jobs = Vec::with_capacity(chunks.len());
        for (part, (args, len)) in chunks.into_iter().enumerate() {
            let range = start..start + len;
            start += len;
            jobs.push(self.core.job(
                &self.target,
                args,
                completion.clone(),
                part as u64,
                Some(range),
                &settings,
            ));
        }
        self.core.submit(jobs)?;
        Ok(AsyncResult::new(
            completion,
            decode_parts,
            self.whole(start),
        ))
    }

    /// Cuts `items` into chunks (see [`Chunker`]), encodes each and submits it as the next part
    /// of `sink`; returns the item positions of every part. The first chunks go out one by one,
    /// so that every worker starts while the rest is encoded; later ones in groups. An input of
    /// known length is never gathered first.
    fn submit_chunks<T: Serialize>(
        &self,
        items: impl Iterator<Item = T>,
        sink: Arc<dyn Sink>,
    ) -> Result<Vec<Range<usize>>, PoolError> {
        match items.size_hint() {
            (low, Some(high)) if low == high => self.submit_counted(items, low, sink),
            _ => {
                let gathered: Vec<T> = items.collect();
                let len = gathered.len();
                self.submit_counted(gathered.into_iter(), len, sink)
            }
        }
    }

    /// [`submit_chunks`](Self::submit_chunks) for `len` items. Generic over the iterator, not
    /// boxed: taking the items of a chunk is then a loop the compiler can see through.
    fn submit_counted<T: Serialize>(
        &self,
        items: impl Iterator<Item = T>,
        len: usize,
        sink: Arc<dyn Sink>,
    ) -> Result<Vec<Range<usize>>, PoolError> {
        let processes = self.core.shared.processes;
        let mut chunker = Chunker::new(self.options.chunksize, len, processes)?;
        if self.core.shared.remote {
            chunker = chunker.for_remote();
        }
        let settings = self.settings();
        let mut items = items.peekable();
        let mut chunk: Vec<T> = Vec::new();
        let mut pending = Vec::new();
        let mut ranges: Vec<Range<usize>> = Vec::new();
        while items.peek().is_some() {
            chunk.clear();
            chunk.extend(items.by_ref().take(chunker.next_size()));
            let args = encode_chunk_sized(&self.target, &chunk, chunker.expected_bytes())?;
            chunker.encoded(chunk.len(), args.bytes().len());
            let start = ranges.last().map_or(0, |r| r.end);
            let range = start..start + chunk.len();
            pending.push(self.core.job(
                &self.target,
                args,
                sink.clone(),
                ranges.len() as u64,
                Some(range.clone()),
                &settings,
            ));
            ranges.push(range);
            if ranges.len() <= processes || pending.len() >= 16 {
                self.core.submit(std::mem::take(&mut pending))?;
            }
        }
        self.core.submit(pending)?;
        Ok(ranges)
    }

    /// Every item, in chunks, as one result.
    pub(crate) fn map_async<T: Serialize, R: DeserializeOwned>(
        &self,
        items: impl Iterator<Item = T>,
    ) -> Result<AsyncResult<Vec<R>>, PoolError> {
        self.core.check()?;
        let completion = Completion::open(self.core.shared.callbacks.clone());
        let ranges = self.submit_chunks(items, completion.clone())?;
        completion.seal(ranges.len());
        let len = ranges.last().map_or(0, |r| r.end);
        Ok(AsyncResult::new(
            completion,
            decode_all::<R>,
            self.whole(len),
        ))
    }

    fn whole(&self, len: usize) -> TaskInfo {
        TaskInfo {
            id: 0,
            target: self.target.short.clone(),
            items: Some(0..len),
            attempts: 1,
        }
    }

    /// Every item, in chunks; waits, decoding chunks in order as they arrive (while the workers
    /// compute the others). The first error in input order wins, after every chunk has
    /// finished.
    pub(crate) fn map<T: Serialize, R: DeserializeOwned>(
        &self,
        items: impl Iterator<Item = T>,
    ) -> Result<Vec<R>, PoolError> {
        self.core.check()?;
        let stream = ChunkStream::new();
        let ranges = self.submit_chunks(items, stream.clone())?;
        let len = ranges.last().map_or(0, |r| r.end);
        let mut results: Vec<R> = Vec::with_capacity(len);
        let mut early = BTreeMap::new();
        let mut next = 0_u64;
        let mut first_error: Option<PoolError> = None;
        let mut done = 0_u64;
        for _ in 0..ranges.len() {
            let (part, outcome) = stream.next(None).expect("waits without a deadline");
            done += ranges.get(part as usize).map_or(0, |r| r.len()) as u64;
            early.insert(part, outcome);
            while let Some(outcome) = early.remove(&next) {
                match outcome {
                    Ok(payload) if first_error.is_none() => {
                        if let Err(e) = payload.decode_extend(&mut results) {
                            first_error = Some(PoolError::Result {
                                task: self.whole(len),
                                message: e.to_string(),
                            });
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        first_error.get_or_insert(error);
                    }
                }
                next += 1;
            }
            self.report(Progress {
                done,
                total: Some(len as u64),
            });
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(results),
        }
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
