//! A stack overflow in a child process is reported to its parent before the process dies.
//!
//! Rust notices a thread running into its stack's guard page, prints "thread '…' has overflowed
//! its stack" on the child's standard error, and the process dies of a signal: its parent
//! would only learn the signal. So a child puts a handler of its own in front of Rust's: when a
//! fault lands next to the faulting thread's stack pointer, it writes a message prepared in
//! advance (a plain `write` of bytes is all a signal handler may do) on the link to its parent,
//! the outcome "overflowed its stack", and a line on its standard error (Rust's own message is
//! only printed for a fault in the one guard page it knows of); then Rust's handler runs as
//! before.

use crate::outcome::{ChildOutcome, Failure, FailureKind};
use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};

/// What the parent is told, as its `Failure` message.
pub(crate) const MESSAGE: &str = "a thread overflowed its stack (deep recursion or large local \
     values; a thread of its own with a bigger stack, std::thread::Builder::stack_size, helps)";

/// How far from the stack pointer a fault still counts as the stack's (a probe of a large
/// frame, a call's return address).
const NEAR: usize = 64 * 1024;

static LINK: AtomicI32 = AtomicI32::new(-1);
static REPORT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static REPORT_LEN: AtomicUsize = AtomicUsize::new(0);
static REPORTED: AtomicBool = AtomicBool::new(false);
static NOTICE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static NOTICE_LEN: AtomicUsize = AtomicUsize::new(0);

/// The handlers that were there before ours (Rust's), for SIGSEGV and SIGBUS.
struct Previous(libc::sigaction);
// SAFETY: a sigaction is plain data (a handler address, a mask, flags); it is only read.
unsafe impl Sync for Previous {}
// SAFETY: as above.
unsafe impl Send for Previous {}
static PREVIOUS_SEGV: OnceLock<Previous> = OnceLock::new();
static PREVIOUS_BUS: OnceLock<Previous> = OnceLock::new();

/// From now on a stack overflow in this process (called `name`) is reported on `link` (the
/// link to the parent), encoded the way the parent reads it.
pub(crate) fn report_on(link: RawFd, name: &str) {
    let notice = format!(
        "procvisor: process {name} (pid {}): {MESSAGE}\n",
        std::process::id()
    );
    let notice: &'static mut [u8] = notice.into_bytes().leak();
    NOTICE_LEN.store(notice.len(), Ordering::Relaxed);
    NOTICE.store(notice.as_mut_ptr(), Ordering::Release);
    let outcome = crate::link::ToParent::Outcome(ChildOutcome::failed(Failure::new(
        FailureKind::StackOverflow,
        MESSAGE,
        None,
    )));
    let Ok(bytes) = procvisor_wire::Connection::message_bytes(&outcome) else {
        return;
    };
    // Kept for the life of the process: the handler may need it at any moment.
    let bytes: &'static mut [u8] = bytes.leak();
    REPORT_LEN.store(bytes.len(), Ordering::Relaxed);
    REPORT.store(bytes.as_mut_ptr(), Ordering::Release);
    LINK.store(link, Ordering::Release);
    install(libc::SIGSEGV, &PREVIOUS_SEGV);
    install(libc::SIGBUS, &PREVIOUS_BUS);
    ensure_alternate_stack();
}

fn install(signal: libc::c_int, previous: &OnceLock<Previous>) {
    if previous.get().is_some() {
        // Installed already (a forked child inherits its parent's handler).
        return;
    }
    // SAFETY: a zeroed sigaction is a valid value to fill in; sigaction(2) reads `ours` and
    // writes the old action into `old`.
    unsafe {
        let mut ours: libc::sigaction = std::mem::zeroed();
        ours.sa_sigaction = on_fault as *const () as libc::sighandler_t;
        ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut ours.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, &ours, &mut old) == 0 {
            let _ = previous.set(Previous(old));
        }
    }
}

/// A handler can only run after an overflow on a stack of its own: make sure this thread has
/// one (Rust gives one to the threads it starts, when its own handler is in place).
fn ensure_alternate_stack() {
    // SAFETY: a zeroed stack_t is a valid value for sigaltstack(2) to overwrite.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: with a null new stack, sigaltstack(2) only reads the current one into `current`.
    let read = unsafe { libc::sigaltstack(std::ptr::null(), &mut current) };
    let has_one = read == 0 && current.ss_flags & libc::SS_DISABLE == 0;
    if has_one {
        return;
    }
    let size = 64 * 1024;
    // SAFETY: an anonymous private mapping with no address hint; checked below.
    let memory = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if memory == libc::MAP_FAILED {
        return;
    }
    let stack = libc::stack_t {
        ss_sp: memory,
        ss_flags: 0,
        ss_size: size,
    };
    // SAFETY: the mapping above lives for the rest of the process (never unmapped).
    unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) };
}

/// Writes bytes prepared beforehand to `fd`, from a signal handler.
fn write_all(fd: RawFd, bytes: &AtomicPtr<u8>, len: &AtomicUsize) {
    let (bytes, len) = (bytes.load(Ordering::Acquire), len.load(Ordering::Relaxed));
    let mut written = 0;
    while fd >= 0 && !bytes.is_null() && written < len {
        // SAFETY: `bytes` points to `len` bytes leaked for the life of the process; write(2)
        // is async-signal-safe.
        let n = unsafe { libc::write(fd, bytes.add(written).cast(), len - written) };
        if n <= 0 {
            return;
        }
        written += n as usize;
    }
}

/// The stack pointer at the fault.
///
/// # Safety
///
/// `context` is the `ucontext_t` the kernel passed to an `SA_SIGINFO` handler.
unsafe fn stack_pointer(context: *mut libc::c_void) -> Option<usize> {
    let context = context.cast::<libc::ucontext_t>();
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: guaranteed by the caller.
        Some(unsafe { (*context).uc_mcontext.gregs[libc::REG_RSP as usize] } as usize)
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: guaranteed by the caller.
        Some(unsafe { (*context).uc_mcontext.sp } as usize)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = context;
        None
    }
}

extern "C" fn on_fault(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo_t and ucontext_t to an SA_SIGINFO handler.
    let (address, sp) = unsafe { ((*info).si_addr() as usize, stack_pointer(context)) };
    let on_the_stack = sp.is_some_and(|sp| address.abs_diff(sp) <= NEAR);
    if on_the_stack && !REPORTED.swap(true, Ordering::AcqRel) {
        write_all(libc::STDERR_FILENO, &NOTICE, &NOTICE_LEN);
        write_all(LINK.load(Ordering::Acquire), &REPORT, &REPORT_LEN);
    }
    // Back to the handler that was there before (Rust's): returning re-runs the faulting
    // instruction, which faults again into it.
    let previous = if signal == libc::SIGSEGV {
        PREVIOUS_SEGV.get()
    } else {
        PREVIOUS_BUS.get()
    };
    // SAFETY: sigaction(2) and signal(2) are async-signal-safe; `previous` is a valid action.
    unsafe {
        match previous {
            Some(Previous(action)) => {
                libc::sigaction(signal, action, std::ptr::null_mut());
            }
            None => {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
    }
}
