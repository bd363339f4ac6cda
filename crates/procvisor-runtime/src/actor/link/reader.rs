//! The reader task of a link: it routes what arrives, and steps aside while callers poll the
//! link for their own replies.
//!
//! A caller on a plain thread reads its reply off the link itself (see `CallSlot::wait`), so
//! no thread has to wake to hand it over. But while the link is in the runtime's epoll, every
//! reply also wakes a runtime thread, which finds nothing left to read. On a small machine that
//! wake costs more than the rest of the round trip: the process that answers pays for it in its
//! send, and the woken thread takes a core the caller or the other process needs. So while
//! callers poll, the reader task takes the link out of epoll.

use super::{Drained, Link};
use std::os::fd::OwnedFd;
use std::sync::Weak;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;

/// How long a reader task keeps polling after a message before it waits for the socket: a
/// request-reply exchange then finds the next message without a wakeup.
const SPIN: Duration = Duration::from_micros(50);

/// While a reader task polls, how many empty looks it takes between turns of the other tasks
/// of its thread.
const TASKS_EVERY: u32 = 8;

/// How often a reader task that stepped aside looks whether callers still poll its link.
const ASIDE: Duration = Duration::from_millis(1);

type Readiness = AsyncFd<OwnedFd>;

/// Routes what arrives on the link until it ends, then tells the net.
pub(super) async fn read_into_net(
    weak: Weak<Link>,
    mut readiness: Readiness,
    direction: super::Direction,
) {
    // Set when coming back to the socket after waiting elsewhere: look before waiting on the
    // socket again, since the readiness that brought this task here may have been cleared.
    let mut look_first = false;
    'reading: loop {
        let mut guard = if look_first {
            None
        } else {
            match readiness.readable().await {
                Ok(guard) => Some(guard),
                Err(_) => break,
            }
        };
        look_first = false;
        let Some(link) = weak.upgrade() else {
            return;
        };
        let step_aside_now = match link.drain_here() {
            Drained::Ended => break,
            // Callers poll the link for their replies: they read what comes next.
            _ if link.callers_reading() => true,
            Drained::Nothing => {
                if let Some(guard) = guard.as_mut() {
                    guard.clear_ready();
                }
                false
            }
            // A caller that was reading for its reply is letting go. It may have looked just
            // before what woke this task arrived, so this task looks again once the caller has
            // let go (rather than spin beside it, on a core the other process may need).
            Drained::Busy => {
                link.reader_waiting
                    .store(true, std::sync::atomic::Ordering::Release);
                if link.drain_here() == Drained::Busy {
                    if let Some(mut guard) = guard.take() {
                        guard.clear_ready();
                    }
                    link.caller_done.notified().await;
                    look_first = true;
                }
                false
            }
            Drained::Some => {
                // Keep looking for a while: the next message is often on its way.
                let mut until = Instant::now() + SPIN;
                // Whether this task last routed a message, which may have woken an actor's
                // task on this thread: that task runs before the next look.
                let mut routed = true;
                let mut looks: u32 = 0;
                loop {
                    // Other tasks of this node go first after a message, and at every few
                    // empty looks (a look at the runtime costs a system call, and one per
                    // look would slow the look that finds the next message).
                    looks = looks.wrapping_add(1);
                    if routed || looks % TASKS_EVERY == 0 {
                        tokio::task::yield_now().await;
                    }
                    // Then other processes: on a busy machine the caller this node just
                    // answered may be waiting for this very core.
                    std::thread::yield_now();
                    routed = false;
                    match link.drain_here() {
                        Drained::Ended => break 'reading,
                        _ if link.callers_reading() => break true,
                        Drained::Some => {
                            until = Instant::now() + SPIN;
                            routed = true;
                        }
                        Drained::Busy => {}
                        Drained::Nothing => {
                            if Instant::now() >= until {
                                if let Some(guard) = guard.as_mut() {
                                    guard.clear_ready();
                                }
                                break false;
                            }
                        }
                    }
                }
            }
        };
        if step_aside_now {
            drop(link);
            readiness = match step_aside(&weak, readiness).await {
                Some(Ok(readiness)) => readiness,
                Some(Err(_)) => break,
                None => return,
            };
            look_first = true;
        }
    }
    tracing::debug!(target: "procvisor::actor", ?direction, "actor link ended");
    if let Some(link) = weak.upgrade() {
        crate::node::node().actor_net().link_lost(&link);
    }
}

/// Takes the link out of the runtime's epoll while callers poll it, and puts it back when a
/// caller calls the task back ([`Link::want_reader`]: it waits for a reply it will not read
/// itself), or when no caller has begun polling for a while. `None`: the link is gone.
///
/// A caller that stops polling in the instant the task steps aside may miss it; the task then
/// comes back at its next look, [`ASIDE`] later, and reads what waits.
async fn step_aside(weak: &Weak<Link>, readiness: Readiness) -> Option<std::io::Result<Readiness>> {
    let fd = readiness.into_inner();
    loop {
        let link = weak.upgrade()?;
        let visits = link.caller_visits();
        let wanted = link.reader_wanted.notified();
        tokio::pin!(wanted);
        wanted.as_mut().enable();
        link.reader_aside
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let back = tokio::select! {
            () = &mut wanted => true,
            () = tokio::time::sleep(ASIDE) => {
                !link.callers_reading() && link.caller_visits() == visits
            }
        };
        if back {
            link.reader_aside
                .store(false, std::sync::atomic::Ordering::SeqCst);
            break;
        }
    }
    Some(register(fd))
}

/// Registers the link's reading side (a duplicate of its socket) with the runtime whose context
/// the caller is in: the node's.
pub(super) fn register(fd: OwnedFd) -> std::io::Result<Readiness> {
    // SAFETY: the AsyncFd owns this duplicate of the socket, open for as long as it lives; the
    // caller is in the node's runtime context (a task on it, or an entered handle).
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}
