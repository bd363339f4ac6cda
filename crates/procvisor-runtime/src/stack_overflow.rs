//! A stack overflow in a child process is reported to its parent before the process dies.
//!
//! Rust notices a thread running into its stack's guard page, prints "thread '…' has overflowed
//! its stack" on the child's standard error, and the process dies of a signal: its parent
//! would only learn the signal. So a child puts a handler of its own in front of Rust's: when a
//! fault lands next to the faulting thread's stack pointer, it writes a message encoded in
//! advance (a plain `write` of bytes is all a signal handler may do) on the link to its parent,
//! the outcome "overflowed its stack", and a line on its standard error, put together on the
//! stack (Rust's own message is only printed for a fault in the one guard page it knows of);
//! then Rust's handler runs as before.

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
static REPORTED: AtomicBool = AtomicBool::new(false);
/// This process's name, for the notice (leaked: the handler may need it at any moment).
static NAME: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static NAME_LEN: AtomicUsize = AtomicUsize::new(0);

/// The outcome the parent is told, encoded. It is the same for every process, so it is made
/// once: a parent that made it before it forked hands it to its forked children ready, and
/// they neither encode nor allocate for it. `None` if it could not be encoded.
static REPORT: OnceLock<Option<Box<[u8]>>> = OnceLock::new();

/// The handlers that were there before ours (Rust's), for SIGSEGV and SIGBUS.
struct Previous(libc::sigaction);
// SAFETY: a sigaction is plain data (a handler address, a mask, flags); it is only read.
unsafe impl Sync for Previous {}
// SAFETY: as above.
unsafe impl Send for Previous {}
static PREVIOUS_SEGV: OnceLock<Previous> = OnceLock::new();
static PREVIOUS_BUS: OnceLock<Previous> = OnceLock::new();

/// Makes the encoded report now, in a process about to fork children that will need it.
pub(crate) fn prepare() {
    report();
}

fn report() -> Option<&'static [u8]> {
    REPORT
        .get_or_init(|| {
            let outcome = crate::link::ToParent::Outcome(ChildOutcome::failed(Failure::new(
                FailureKind::StackOverflow,
                MESSAGE,
                None,
            )));
            procvisor_wire::Connection::message_bytes(&outcome)
                .ok()
                .map(Vec::into_boxed_slice)
        })
        .as_deref()
}

/// From now on a stack overflow in this process (called `name`) is reported on `link` (the
/// link to the parent), encoded the way the parent reads it.
pub(crate) fn report_on(link: RawFd, name: &str) {
    if report().is_none() {
        return;
    }
    let name: &'static mut [u8] = Box::leak(name.as_bytes().into());
    NAME_LEN.store(name.len(), Ordering::Relaxed);
    NAME.store(name.as_mut_ptr(), Ordering::Release);
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

/// Writes `bytes` to `fd`, from a signal handler.
fn write_all(fd: RawFd, bytes: &[u8]) {
    let mut written = 0;
    while fd >= 0 && written < bytes.len() {
        // SAFETY: the pointer and length are those of `bytes`; write(2) is async-signal-safe.
        let n = unsafe { libc::write(fd, bytes[written..].as_ptr().cast(), bytes.len() - written) };
        if n <= 0 {
            return;
        }
        written += n as usize;
    }
}

/// The line on standard error, "procvisor: process NAME (pid PID): MESSAGE", put together
/// without allocating (in a signal handler), in a buffer on the stack.
struct Notice {
    bytes: [u8; 512],
    len: usize,
}

impl Notice {
    fn new() -> Notice {
        Notice {
            bytes: [0; 512],
            len: 0,
        }
    }

    /// Appends what fits.
    fn push(&mut self, more: &[u8]) -> &mut Notice {
        let n = more.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&more[..n]);
        self.len += n;
        self
    }

    fn push_number(&mut self, mut number: u32) -> &mut Notice {
        let mut digits = [0u8; 10];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (number % 10) as u8;
            number /= 10;
            if number == 0 {
                break;
            }
        }
        self.push(&digits[start..])
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The line for process `name` with `pid`.
fn notice(name: &[u8], pid: u32) -> Notice {
    let mut notice = Notice::new();
    notice
        .push(b"procvisor: process ")
        .push(name)
        .push(b" (pid ")
        .push_number(pid)
        .push(b"): ")
        .push(MESSAGE.as_bytes())
        .push(b"\n");
    notice
}

/// This process's name, as [`report_on`] left it.
fn name() -> &'static [u8] {
    let (name, len) = (
        NAME.load(Ordering::Acquire),
        NAME_LEN.load(Ordering::Relaxed),
    );
    if name.is_null() {
        return &[];
    }
    // SAFETY: `name` points to `len` bytes leaked for the life of the process.
    unsafe { std::slice::from_raw_parts(name, len) }
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
        // SAFETY: getpid(2) is async-signal-safe and cannot fail.
        let pid = unsafe { libc::getpid() } as u32;
        write_all(libc::STDERR_FILENO, notice(name(), pid).as_bytes());
        if let Some(Some(report)) = REPORT.get() {
            write_all(LINK.load(Ordering::Acquire), report);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_the_process_and_its_pid() {
        for pid in [0, 7, 42, 4_194_304, u32::MAX] {
            assert_eq!(
                notice(b"Process-1:2", pid).as_bytes(),
                format!("procvisor: process Process-1:2 (pid {pid}): {MESSAGE}\n").as_bytes()
            );
        }
    }

    #[test]
    fn a_notice_too_long_for_its_buffer_is_cut_short() {
        let name = vec![b'x'; 1000];
        let notice = notice(&name, 1);
        assert_eq!(notice.as_bytes().len(), 512);
        assert!(notice.as_bytes().starts_with(b"procvisor: process xxx"));
    }

    #[test]
    fn the_report_is_made_once_and_decodes_as_a_stack_overflow() {
        prepare();
        let report = report().expect("the report encodes");
        assert!(std::ptr::eq(report, super::report().unwrap()), "made once");
        let (mut ours, theirs) = procvisor_wire::pipe(true).unwrap();
        write_all(theirs.fileno().unwrap(), report);
        match ours.recv::<crate::link::ToParent>().unwrap() {
            crate::link::ToParent::Outcome(outcome) => {
                let failure = outcome.failure.expect("a failure");
                assert_eq!(failure.kind(), FailureKind::StackOverflow);
                assert_eq!(failure.message(), MESSAGE);
            }
            _ => panic!("not an outcome"),
        }
    }
}
