//! One Python thread state per streaming thread, kept for the thread's lifetime.
//!
//! `PyGILState_Ensure`/`Release` around each buffer would create and destroy a thread
//! state every time (~8 µs). Holding one extra `PyGILState` count per thread keeps the
//! state alive, so each later `Python::attach` is only a restore/save of that state
//! (~0.15 µs). The count is returned when the thread exits, which deletes the state:
//! idle GStreamer pool threads do not keep Python thread states forever.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::LazyLock;

use pyo3::ffi;
use pyo3::prelude::*;

struct Pin {
    pinned: Cell<bool>,
}

impl Pin {
    fn ensure(&self) {
        if self.pinned.get() {
            return;
        }
        // SAFETY: the interpreter is initialized and not finalizing (`attach` checked
        // `running()`); a thread inside Python::attach already has a state, so the
        // early return below covers nested calls.
        unsafe {
            if !ffi::PyGILState_GetThisThreadState().is_null() {
                // A thread Python already knows (an app's thread): it owns that state.
                return;
            }
            ffi::PyGILState_Ensure();
            ffi::PyEval_SaveThread();
        }
        self.pinned.set(true);
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        // SAFETY: the count taken in `ensure` is returned on its own thread. Skipped
        // once the interpreter is gone or going (a PyGObject app exiting).
        unsafe {
            if !self.pinned.get() || !interpreter_alive() {
                return;
            }
            ffi::PyGILState_Ensure();
            ffi::PyGILState_Release(ffi::PyGILState_STATE::PyGILState_LOCKED);
            // The count reaches zero: CPython clears and deletes the state and
            // releases the GIL.
            ffi::PyGILState_Release(ffi::PyGILState_STATE::PyGILState_UNLOCKED);
        }
    }
}

// Python 3.13 made `Py_IsFinalizing` public and removed `_Py_IsFinalizing`
// (cpython#108014): a plugin linked to the old name would not load at all.
#[cfg(not(Py_3_13))]
unsafe extern "C" {
    fn _Py_IsFinalizing() -> libc::c_int;
}

#[cfg(not(Py_3_13))]
fn is_finalizing() -> bool {
    // SAFETY: always callable, with or without the GIL.
    unsafe { _Py_IsFinalizing() != 0 }
}

#[cfg(Py_3_13)]
fn is_finalizing() -> bool {
    // SAFETY: always callable, with or without the GIL.
    unsafe { ffi::Py_IsFinalizing() != 0 }
}

/// Whether Python can be entered at all: initialized and not shutting down (a
/// PyGObject app exiting with a pipeline still running).
pub fn interpreter_alive() -> bool {
    // SAFETY: always callable.
    unsafe { ffi::Py_IsInitialized() != 0 && !is_finalizing() }
}

/// The element whose code runs on this thread, and its debug category: where Python
/// `logging` records made here go (`stage::log_bridge` reads and sets it). None: a
/// thread of the user's own, or no hook running.
pub type LogScope = Option<(NonNull<gst::ffi::GstElement>, gst::DebugCategory)>;

/// This thread's Python bookkeeping, in one thread-local: a plugin's thread-locals
/// are reached through `__tls_get_addr`, and a stage's call needs every field on
/// every buffer.
struct ThreadPython {
    pin: Pin,
    /// How many of our own `attach` calls are open on this thread (pyo3 keeps its
    /// count private). Above zero, a call back into an element on this thread came
    /// from Python (see `reattach`).
    depth: Cell<u32>,
    /// See [`LogScope`]. Here rather than in a thread-local of its own: the call sets
    /// it in the same lookup that takes the GIL.
    log_scope: Cell<LogScope>,
}

/// The clock of the GIL wait and call timings, read raw (the CPU's time-stamp counter
/// where it is reliable) and scaled once per interval: `quanta::Instant::now` checks a
/// thread-local for a mocked clock on every reading, a `__tls_get_addr` call each in a
/// plugin (about 70 instructions a reading, three a frame).
static CLOCK: LazyLock<quanta::Clock> = LazyLock::new(quanta::Clock::new);

thread_local! {
    static THREAD: ThreadPython = const {
        ThreadPython {
            pin: Pin { pinned: Cell::new(false) },
            depth: Cell::new(0),
            log_scope: Cell::new(None),
        }
    };
}

/// This thread's [`LogScope`] (None once the thread's thread-locals are torn down).
pub fn log_scope() -> LogScope {
    THREAD
        .try_with(|thread| thread.log_scope.get())
        .ok()
        .flatten()
}

/// Sets this thread's [`LogScope`] and returns the one it replaces (scopes nest when
/// stages run inline).
pub fn replace_log_scope(scope: LogScope) -> LogScope {
    THREAD
        .try_with(|thread| thread.log_scope.replace(scope))
        .ok()
        .flatten()
}

/// One open `attach` on this thread in `scope`: the depth and the scope are restored
/// on drop (also on a panic).
struct Entered<'a> {
    thread: &'a ThreadPython,
    previous_scope: LogScope,
}

impl<'a> Entered<'a> {
    fn enter(thread: &'a ThreadPython, scope: LogScope) -> Self {
        thread.depth.set(thread.depth.get() + 1);
        Entered {
            thread,
            previous_scope: thread.log_scope.replace(scope),
        }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.thread.depth.set(self.thread.depth.get() - 1);
        self.thread.log_scope.set(self.previous_scope);
    }
}

/// Gives back the GIL `reattach` took, also on a panic.
struct GilStateRelease(ffi::PyGILState_STATE);

impl Drop for GilStateRelease {
    fn drop(&mut self) {
        // SAFETY: pairs the PyGILState_Ensure of `reattach`, on the same thread.
        unsafe { ffi::PyGILState_Release(self.0) }
    }
}

/// Python cannot be entered from here: this process never started it (no stage with
/// code ran yet; `PyGILState_Ensure` on a runtime that does not exist crashes), or
/// it is shutting down (an app exiting with a pipeline still running; taking the
/// GIL then aborts the process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotRunning;

impl std::fmt::Display for NotRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Python is not running in this process (not started, or shutting down)")
    }
}

impl std::error::Error for NotRunning {}

/// Whether `attach` may enter Python: started through `interpreter::ensure_initialized`
/// in this process, and not finalizing.
pub fn running() -> bool {
    super::interpreter::started() && !is_finalizing()
}

/// Runs `f` with the GIL held on this thread's long-lived thread state and returns
/// how long taking the GIL took, in nanoseconds, alongside `f`'s result.
///
/// # Errors
///
/// [`NotRunning`] when Python was never started here or is finalizing; `f` is not
/// called then. Every path into Python goes through this check: stop paths of an
/// element that never ran code, and threads still streaming while an app exits.
#[inline]
pub fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Result<(R, u64), NotRunning> {
    enter::<R, false>(None, f).map(|(r, timing)| (r, timing.gil_wait_ns))
}

/// How long a call of [`attach_timed`] waited for the GIL and then held it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub gil_wait_ns: u64,
    /// From taking the GIL to `f`'s return.
    pub held_ns: u64,
}

/// [`attach`] with `scope` as this thread's [`LogScope`] while `f` runs, also timing
/// `f`: one clock reading between the wait and the call serves both (three in all,
/// where timing the call inside `f` would take four).
///
/// # Errors
///
/// As [`attach`].
#[inline]
pub fn attach_timed<R>(
    scope: LogScope,
    f: impl for<'py> FnOnce(Python<'py>) -> R,
) -> Result<(R, Timing), NotRunning> {
    enter::<R, true>(scope, f)
}

/// `scope`: None leaves this thread's [`LogScope`] as it is.
#[inline(always)]
fn enter<R, const TIME_CALL: bool>(
    scope: LogScope,
    f: impl for<'py> FnOnce(Python<'py>) -> R,
) -> Result<(R, Timing), NotRunning> {
    if !running() {
        return Err(NotRunning);
    }
    let mut f = Some(f);
    let entered = THREAD.try_with(|thread| {
        let f = f.take().expect("taken once");
        thread.pin.ensure();
        let asked = CLOCK.raw();
        let scope = scope.or_else(|| thread.log_scope.get());
        // SAFETY: PyGILState_Check needs no GIL. It compares the GIL's holder with
        // this thread's state (the current thread state is process-wide before Python
        // 3.12, so it alone cannot tell).
        if thread.depth.get() > 0 && unsafe { ffi::PyGILState_Check() } == 0 {
            return reattach::<R, TIME_CALL>(f, asked, thread, scope);
        }
        let _entered = Entered::enter(thread, scope);
        Python::attach(|py| timed::<R, TIME_CALL>(py, f, asked))
    });
    match entered {
        Ok(entered) => Ok(entered),
        // Only while this thread's thread-locals are torn down (a pool thread at
        // process exit): no pin (a slower but correct attach), no depth to count,
        // logging under `savantpython`.
        Err(_) => {
            let f = f.take().expect("not taken when the thread-local is gone");
            let asked = CLOCK.raw();
            Ok(Python::attach(|py| timed::<R, TIME_CALL>(py, f, asked)))
        }
    }
}

/// `f` with the GIL just taken: the wait since `asked`, and with `TIME_CALL` how
/// long `f` ran.
#[inline(always)]
fn timed<R, const TIME_CALL: bool>(
    py: Python<'_>,
    f: impl for<'py> FnOnce(Python<'py>) -> R,
    asked: u64,
) -> (R, Timing) {
    let taken = CLOCK.raw();
    let gil_wait_ns = CLOCK.delta_as_nanos(asked, taken);
    let r = f(py);
    let held_ns = if TIME_CALL {
        CLOCK.delta_as_nanos(taken, CLOCK.raw())
    } else {
        0
    };
    (
        r,
        Timing {
            gil_wait_ns,
            held_ns,
        },
    )
}

/// A hook on this thread called GStreamer through PyGObject, which releases the GIL
/// around every C call (`PyEval_SaveThread`), and that call came back into one of our
/// elements on this thread (`set_state`, `Pad.chain`, a pipeline started or stopped
/// from a hook). pyo3 still counts this thread as attached, so `Python::attach` would
/// run `f` without the GIL and without a thread state (a crash in the first Python
/// call). Take the GIL back on this thread's own state, as PyGObject's own callbacks
/// (pad probes) do, and save it again afterwards, so PyGObject's return into Python
/// finds the thread as it left it.
#[cold]
#[inline(never)]
fn reattach<R, const TIME_CALL: bool>(
    f: impl for<'py> FnOnce(Python<'py>) -> R,
    asked: u64,
    thread: &ThreadPython,
    scope: LogScope,
) -> (R, Timing) {
    // SAFETY: Python is running (checked by `attach`); this thread has a thread state
    // that is not current (the outer attach's, saved by PyGObject): PyGILState_Ensure
    // restores it and returns UNLOCKED, and the matching Release saves it again.
    let _release = GilStateRelease(unsafe { ffi::PyGILState_Ensure() });
    let _entered = Entered::enter(thread, scope);
    // SAFETY: the GIL is held on this thread's state (just above) until `_release`.
    let py = unsafe { Python::assume_attached() };
    timed::<R, TIME_CALL>(py, f, asked)
}

/// Runs `f` with the GIL if Python is running, for paths that only release or tidy
/// up: without Python there is nothing of Python's to release.
pub fn attach_if_running(f: impl for<'py> FnOnce(Python<'py>)) {
    let _ = attach(f);
}

/// How many Python thread states the interpreter holds (for tests and diagnostics).
///
/// # Safety
///
/// No thread may create or delete a Python thread state while this walks the list:
/// CPython links and unlinks states under its runtime's private HEAD_LOCK, not under
/// the GIL (`PyThreadState_Delete` needs no GIL), so the GIL alone does not keep the
/// list still. Call it only while every pipeline that runs Python is stopped and no
/// other thread of the process starts or ends Python threads.
pub unsafe fn count(_py: Python<'_>) -> usize {
    // SAFETY: the caller guarantees the list does not change while we walk it; the
    // GIL (the token) keeps the interpreter itself alive.
    unsafe {
        let mut state = ffi::PyInterpreterState_ThreadHead(ffi::PyInterpreterState_Main());
        let mut n = 0;
        while !state.is_null() {
            n += 1;
            state = ffi::PyThreadState_Next(state);
        }
        n
    }
}

/// The stack a GStreamer streaming thread (and a Python thread) gets: the process's
/// default pthread stack, which is the stack rlimit (8 MiB on most systems), not
/// Rust's 2 MiB. Threads of ours that run Python get the same, so code that works on
/// a streaming thread does not overflow on a worker.
pub fn streaming_thread_stack_size() -> usize {
    const FALLBACK: usize = 8 << 20;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) } == 0;
    if !ok || limit.rlim_cur == libc::RLIM_INFINITY {
        return FALLBACK;
    }
    // Never less than the fallback, never absurd (an rlimit of gigabytes).
    (limit.rlim_cur as usize).clamp(FALLBACK, 64 << 20)
}
