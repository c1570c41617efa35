//! `savantpyfunc` implementation.
//!
//! A plain element with a chain function (not a BaseTransform): it owns each buffer,
//! maps it read-only unless `writable`, and only makes the buffer header writable
//! (never the pixels) when Python changed its attributes.
//!
//! With `workers`, frames go to a pool (workers.rs) that keeps their order. A class
//! with `process_batch` gets lists of frames (batch.rs).
//!
//! Locks: `settings`, `pool` and the runtime's state are never held while taking
//! the GIL or while waiting for the pool (`pool()` hands out a clone of the Arc);
//! `settings` may be taken before `pool` (the stats property), never the other way;
//! `batcher` is like `pool`.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex};

use quanta::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use pyo3::prelude::*;

use crate::frame::layout::FRAME_FORMATS;
use crate::frame::{Frame, FrameChanges};
use crate::python::loader::{Hooks, StageError, DEFAULT_FUNCTION};
use crate::python::thread_state;
use crate::stage::frame_checks::{self, CallReport};
use crate::stage::handoff::Handoff;
use crate::stage::log_bridge;
use crate::stage::runtime::{FrameMemory, OnError, RunSettings, StageRuntime};
use crate::stage::settings::{Blurbs, CodeSettings};
use crate::stage::stats::StageStats;

use super::batch::Batcher;
use super::workers::{Outcome, WorkerPool};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantpyfunc",
        gst::DebugColorFlags::empty(),
        Some("Savant Python function stage"),
    )
});

const DEFAULT_WRITABLE: bool = false;
const DEFAULT_BATCH_SIZE: u32 = 1;
const MAX_BATCH_SIZE: u32 = 1024;
const DEFAULT_BATCH_TIMEOUT_MS: u32 = 40;
const DEFAULT_CUDA_DEVICE_ID: u32 = 0;
const DEFAULT_WORKERS: u32 = 1;
const MAX_WORKERS: u32 = 64;

/// Which instance of the user's class the workers call. One per worker is the
/// default, as inference servers keep one model instance per worker: detector and
/// tracker objects (OpenCV's among them) are rarely thread-safe, and a shared one
/// silently gives wrong results.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantInstances")]
pub enum Instances {
    #[default]
    #[enum_value(
        name = "One instance per worker, each built with the same kwargs",
        nick = "per-worker"
    )]
    PerWorker,
    #[enum_value(
        name = "One instance for all workers, called from several threads at once: it must be thread-safe",
        nick = "shared"
    )]
    Shared,
}

#[derive(Debug, Clone)]
struct Settings {
    code: CodeSettings,
    writable: bool,
    workers: u32,
    instances: Instances,
    batch_size: u32,
    batch_timeout_ms: u32,
    cuda_device_id: u32,
    memory: FrameMemory,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            code: CodeSettings::new(DEFAULT_FUNCTION),
            writable: DEFAULT_WRITABLE,
            workers: DEFAULT_WORKERS,
            instances: Instances::default(),
            batch_size: DEFAULT_BATCH_SIZE,
            batch_timeout_ms: DEFAULT_BATCH_TIMEOUT_MS,
            cuda_device_id: DEFAULT_CUDA_DEVICE_ID,
            memory: FrameMemory::default(),
        }
    }
}

/// What became of one frame.
enum Verdict {
    /// Pass it on, with what Python changed on it.
    Pass(FrameChanges),
    Drop,
    Failed(StageError),
    /// The buffer does not fit its caps: a stream error whatever on-error says.
    Invalid(String),
}

pub struct PyFunc {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    runtime: StageRuntime,
    /// workers > 1: the pool.
    pool: Mutex<Option<Arc<WorkerPool>>>,
    /// A class with `process_batch`: the batch being collected.
    batcher: Mutex<Option<Arc<Batcher>>>,
    /// Whether workers pay for this stage (python/handoff.rs); when they do not
    /// (short or GIL-bound calls), frames run inline on the streaming thread.
    handoff: Handoff,
    /// Per-run copies of settings read on every buffer (no settings lock there).
    writable: AtomicBool,
    pooled: AtomicBool,
    /// A batcher is running: checked before taking its lock on every buffer.
    batching: AtomicBool,
}

impl PyFunc {
    // The per-buffer path: snapshot state, map, one GIL acquisition, push. With
    // workers, the frame goes to the pool instead.
    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.batching.load(Relaxed) {
            if let Some(batcher) = self.batcher() {
                return batcher.add(self, buffer);
            }
        }
        if let Some(pool) = self.pool() {
            self.update_worker_mode(&pool)?;
            if !self.handoff.is_inline() {
                return pool.submit(buffer);
            }
        }
        match self.process(buffer, 0) {
            Outcome::Push(buffer) => self.srcpad.push(buffer),
            Outcome::Dropped => Ok(gst::FlowSuccess::Ok),
            Outcome::Failed => Err(gst::FlowError::Error),
        }
    }

    /// Once per window of frames: pool or inline (see python/handoff.rs). Going
    /// inline waits until the pool has pushed everything, so order is kept.
    fn update_worker_mode(&self, pool: &WorkerPool) -> Result<(), gst::FlowError> {
        if !self.handoff.due() {
            return Ok(());
        }
        match self.handoff.decide(&self.runtime.stats) {
            Some(true) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "calls are short or hold the GIL: running them inline"
                );
                pool.drain()?;
                self.handoff.commit(true);
            }
            Some(false) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "calls release the GIL: back to the workers"
                );
                self.handoff.commit(false);
            }
            None => {}
        }
        Ok(())
    }

    fn pool(&self) -> Option<Arc<WorkerPool>> {
        self.pool.lock().unwrap().clone()
    }

    fn batcher(&self) -> Option<Arc<Batcher>> {
        self.batcher.lock().unwrap().clone()
    }

    /// GStreamer's CUDA elements on either side ask for a CUDA context: they get the
    /// primary context, which CuPy and PyTorch use (see cuda/mod.rs).
    fn cuda_context_query(&self, query: &mut gst::QueryRef) -> bool {
        let device = self.settings.lock().unwrap().cuda_device_id;
        let answered = crate::cuda::answer_context_query(query, device);
        if answered {
            gst::debug!(
                CAT,
                imp = self,
                "gave CUDA device {device}'s primary context"
            );
        }
        answered
    }

    fn sink_query(
        &self,
        pad: &gst::Pad,
        parent: Option<&impl IsA<gst::Object>>,
        query: &mut gst::QueryRef,
    ) -> bool {
        self.cuda_context_query(query) || self.runtime.pad_query(pad, parent, query)
    }

    /// The runtime's queries; with batches of more than one frame, a frame may wait
    /// up to batch-timeout for its batch: that is latency this stage adds.
    fn src_query(
        &self,
        pad: &gst::Pad,
        parent: Option<&impl IsA<gst::Object>>,
        query: &mut gst::QueryRef,
    ) -> bool {
        if self.cuda_context_query(query) {
            return true;
        }
        if !self.runtime.pad_query(pad, parent, query) {
            return false;
        }
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let added = {
                let settings = self.settings.lock().unwrap();
                (self.batcher().is_some() && settings.batch_size > 1)
                    .then(|| gst::ClockTime::from_mseconds(settings.batch_timeout_ms.into()))
            };
            if let Some(added) = added {
                let (live, min, max) = q.result();
                q.set(live, min + added, max.map(|m| m + added));
            }
        }
        true
    }

    /// Calls `process_batch` once for `buffers` and pushes the frames it keeps, in
    /// order. Runs on the streaming thread or the batch timer, never both at once.
    pub(super) fn run_batch(
        &self,
        buffers: Vec<gst::Buffer>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut result = Ok(gst::FlowSuccess::Ok);
        for outcome in self.process_batch(buffers) {
            match outcome {
                Outcome::Push(buffer) => {
                    let pushed = self.srcpad.push(buffer);
                    if pushed.is_err() && result.is_ok() {
                        result = pushed;
                    }
                }
                Outcome::Dropped => {}
                Outcome::Failed => return Err(gst::FlowError::Error),
            }
        }
        result
    }

    /// `process_batch` for several frames, one GIL hand-over; on-error applies to
    /// each frame of a batch that raised.
    fn process_batch(&self, mut buffers: Vec<gst::Buffer>) -> Vec<Outcome> {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        self.runtime.maybe_reload(element);
        let snapshot = match self.runtime.frame_context(element) {
            Ok(snapshot) => snapshot,
            Err(gst::FlowError::Flushing) => {
                return buffers.iter().map(|_| Outcome::Dropped).collect()
            }
            Err(_) => return vec![Outcome::Failed],
        };
        let hooks: &Hooks = snapshot
            .instance(0)
            .expect("savantpyfunc always has user code");
        if !self.runtime.announce_frame_sources(
            element,
            &snapshot,
            buffers.iter().map(|b| b.as_ref()),
        ) {
            return vec![Outcome::Failed];
        }
        for buffer in &mut buffers {
            self.runtime
                .restore_dropped_objects(element, buffer, &snapshot.caps.layout);
        }
        let writable = self.writable.load(Relaxed);
        if writable {
            for buffer in &mut buffers {
                buffer.make_mut();
            }
        }
        gst::log!(
            CAT,
            imp = self,
            "calling {} for {} frames",
            hooks.process_name,
            buffers.len()
        );
        let stats = &self.runtime.stats;
        let calls = &stats.calls;
        let layout = &snapshot.caps.layout;
        let frames_of = &buffers;
        let _logging = log_bridge::enter(element, *CAT);
        let attached = thread_state::attach(move |py| {
            let started = Instant::now();
            calls.enter();
            let results = call_batch(py, hooks, frames_of, layout, writable, element, stats);
            calls.leave();
            (results, started.elapsed().as_nanos() as u64)
        });
        let Ok(((results, python_ns), gil_wait_ns)) = attached else {
            self.python_not_running();
            return buffers.iter().map(|_| Outcome::Failed).collect();
        };
        stats.record_batch(buffers.len() as u64, python_ns, gil_wait_ns);
        self.runtime
            .maybe_post_periodic_stats(element, snapshot.stats_interval_ms);
        buffers
            .into_iter()
            .zip(results)
            .map(|(buffer, (verdict, report, device_mapped))| {
                report.post_warnings(element);
                if device_mapped && !self.finish_device_work(&buffer) {
                    return Outcome::Failed;
                }
                self.settle(verdict, buffer, snapshot.on_error)
            })
            .collect()
    }

    /// Calls the user's code for one frame (with worker `worker`'s instance; 0 on
    /// the streaming thread) and applies the on-error policy; errors are posted
    /// before returning Failed.
    pub(super) fn process(&self, mut buffer: gst::Buffer, worker: usize) -> Outcome {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        self.runtime.maybe_reload(element);
        let snapshot = match self.runtime.frame_context(element) {
            Ok(snapshot) => snapshot,
            Err(gst::FlowError::Flushing) => return Outcome::Dropped,
            Err(_) => return Outcome::Failed,
        };
        // Borrowed from the frame context, which holds the instances until the call
        // is over (a reload retires them only after that).
        let hooks: &Hooks = snapshot
            .instance(worker)
            .expect("savantpyfunc always has user code");
        if !self
            .runtime
            .announce_frame_sources(element, &snapshot, [buffer.as_ref()])
        {
            return Outcome::Failed;
        }
        self.runtime
            .restore_dropped_objects(element, &mut buffer, &snapshot.caps.layout);
        let writable = self.writable.load(Relaxed);
        if writable {
            // Copies only when the buffer is shared (after a tee, or kept by Python).
            buffer.make_mut();
        }
        gst::log!(
            CAT,
            imp = self,
            "calling {} for {:?}",
            hooks.process_name,
            buffer.pts()
        );
        let stats = &self.runtime.stats;
        let calls = &stats.calls;
        // By reference: the closure below stays a few pointers, moved in registers.
        let layout = &snapshot.caps.layout;
        let frame_of = &buffer;
        let check_readonly = !writable && frame_checks::picks_readonly_check(stats);
        let _logging = log_bridge::enter(element, *CAT);
        let attached = thread_state::attach(move |py| {
            let started = Instant::now();
            calls.enter();
            // Built in place, under the GIL: the frame is moved once, into Python.
            let outcome = match Frame::new(frame_of, layout, writable, check_readonly) {
                Ok(frame) => call_process(py, hooks, frame, element, stats),
                Err(e) => (Verdict::Invalid(e), CallReport::default(), false),
            };
            calls.leave();
            (outcome, started.elapsed().as_nanos() as u64)
        });
        let Ok((((verdict, report, device_mapped), python_ns), gil_wait_ns)) = attached else {
            self.python_not_running();
            return Outcome::Failed;
        };
        stats.record_call(python_ns, gil_wait_ns);
        report.post_warnings(element);
        if device_mapped && !self.finish_device_work(&buffer) {
            return Outcome::Failed;
        }
        self.runtime
            .maybe_post_periodic_stats(element, snapshot.stats_interval_ms);

        self.settle(verdict, buffer, snapshot.on_error)
    }

    /// The process is exiting under a running pipeline (Python finalizing): the
    /// frame cannot be processed, and the stream ends with an ERROR, not a signal.
    fn python_not_running(&self) {
        gst::element_imp_error!(
            self,
            gst::LibraryError::Failed,
            ("{}", thread_state::NotRunning)
        );
    }

    /// Python mapped a CUDA frame: what it queued on the device (any stream) must be
    /// done before the buffer goes downstream. Without the GIL; false after posting
    /// an error.
    fn finish_device_work(&self, buffer: &gst::Buffer) -> bool {
        match crate::cuda::finish_device_work(buffer.peek_memory(0)) {
            Ok(()) => true,
            Err(e) => {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Failed,
                    ("waiting for the stage's CUDA work failed: {}", e)
                );
                false
            }
        }
    }

    /// What becomes of a frame after its call: changes written, dropped, or the
    /// on-error policy for a failure (posted here).
    fn settle(&self, verdict: Verdict, mut buffer: gst::Buffer, on_error: OnError) -> Outcome {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        let stats = &self.runtime.stats;
        match verdict {
            Verdict::Pass(changes) => {
                changes.apply(&mut buffer);
                Outcome::Push(buffer)
            }
            Verdict::Invalid(e) => {
                gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
                Outcome::Failed
            }
            Verdict::Drop => {
                gst::log!(
                    CAT,
                    imp = self,
                    "dropping {:?} as Python asked",
                    buffer.pts()
                );
                stats.dropped.fetch_add(1, Relaxed);
                Outcome::Dropped
            }
            Verdict::Failed(error) => match self.runtime.on_hook_error(element, &error, on_error) {
                OnError::Fail => Outcome::Failed,
                OnError::Skip => Outcome::Push(buffer),
                OnError::Drop => {
                    stats.dropped.fetch_add(1, Relaxed);
                    Outcome::Dropped
                }
            },
        }
    }

    pub(super) fn push(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.srcpad.push(buffer)
    }

    // With workers, serialized events wait for the frames before them; flushes
    // discard what is in flight.
    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let element = self.obj();
        if let Some(batcher) = self.batcher() {
            return match event.type_() {
                gst::EventType::FlushStart => {
                    // Downstream first: that releases a batch blocked in a push.
                    let forwarded = self.runtime.sink_event(element.upcast_ref(), pad, event);
                    batcher.start_flushing();
                    forwarded
                }
                gst::EventType::FlushStop => {
                    batcher.stop_flushing();
                    self.runtime.sink_event(element.upcast_ref(), pad, event)
                }
                _ => {
                    if event.is_serialized() {
                        // Frames before the event go first; a flow error is
                        // returned by the next chain call.
                        let _ = batcher.drain(self);
                    }
                    self.runtime.sink_event(element.upcast_ref(), pad, event)
                }
            };
        }
        let Some(pool) = self.pool() else {
            return self.runtime.sink_event(element.upcast_ref(), pad, event);
        };
        match event.type_() {
            gst::EventType::FlushStart => {
                pool.start_flushing();
                self.runtime.sink_event(element.upcast_ref(), pad, event)
            }
            gst::EventType::FlushStop => {
                pool.stop_flushing();
                self.runtime.sink_event(element.upcast_ref(), pad, event)
            }
            _ => {
                if event.is_serialized() {
                    // Its flow is returned by the next chain call.
                    let _ = pool.drain();
                }
                self.runtime.sink_event(element.upcast_ref(), pad, event)
            }
        }
    }

    /// READY -> PAUSED: the user's code (an instance per worker, or one), then the
    /// workers.
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        let mut run = self.run_settings();
        let (batch_size, batch_timeout) = {
            let settings = self.settings.lock().unwrap();
            (
                settings.batch_size as usize,
                std::time::Duration::from_millis(settings.batch_timeout_ms.into()),
            )
        };
        let workers = {
            let settings = self.settings.lock().unwrap();
            run.memory = settings.memory;
            self.writable.store(settings.writable, Relaxed);
            settings.code.configure_checks(&self.runtime.stats);
            if settings.instances == Instances::PerWorker {
                run.instances = settings.workers as usize;
            }
            settings.workers as usize
        };
        self.runtime.start(element, run)?;
        let batched = self.runtime.batched().unwrap_or(false);
        let refusal = if batched && workers > 1 {
            Some("process_batch runs on the streaming thread: set workers=1 (a batch is the unit of parallel work)".to_owned())
        } else if !batched && batch_size > 1 {
            Some(format!(
                "batch-size={batch_size} needs a class that defines process_batch(self, frames)"
            ))
        } else {
            None
        };
        if let Some(message) = refusal {
            self.runtime.stop(element);
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                ("{}", message)
            ));
        }
        if batched {
            let batcher = Batcher::start(&self.obj(), batch_size, batch_timeout);
            *self.batcher.lock().unwrap() = Some(Arc::new(batcher));
            self.batching.store(true, Relaxed);
        }
        self.handoff.reset();
        if workers > 1 {
            let pool = Arc::new(WorkerPool::start(&self.obj(), workers));
            *self.pool.lock().unwrap() = Some(pool);
            self.pooled.store(true, Relaxed);
        }
        Ok(())
    }

    /// PAUSED -> READY, after the pads were deactivated: workers end after their
    /// current call; then every instance's on_stop.
    fn stop(&self) {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        self.pooled.store(false, Relaxed);
        self.batching.store(false, Relaxed);
        let batcher = self.batcher.lock().unwrap().take();
        if let Some(batcher) = batcher {
            batcher.shutdown();
        }
        let pool = self.pool.lock().unwrap().take();
        if let Some(pool) = pool {
            pool.shutdown();
        }
        self.runtime.stop(element);
    }

    fn run_settings(&self) -> RunSettings {
        self.settings.lock().unwrap().code.run_settings(true)
    }
}

#[inline(always)]
fn call_process(
    py: Python<'_>,
    hooks: &Hooks,
    frame: Frame,
    element: &gst::Element,
    stats: &StageStats,
) -> (Verdict, CallReport, bool) {
    let frame = match Bound::new(py, frame.made_by(hooks.stage_name.clone_ref(py))) {
        Ok(frame) => frame,
        Err(e) => {
            let error = StageError::python(py, "creating the frame", &e);
            return (Verdict::Failed(error), CallReport::default(), false);
        }
    };
    let verdict = match hooks.process.bind(py).call1((&frame,)) {
        Err(e) => Verdict::Failed(StageError::python(
            py,
            format!(
                "module {}: {}() raised",
                hooks.module_name, hooks.process_name
            ),
            &e,
        )),
        Ok(result) => {
            let keep = crate::frame::values::verdict(&result);
            if keep == Some(true) {
                match frame.get().changes(py) {
                    Ok(changes) => Verdict::Pass(changes),
                    Err(e) => Verdict::Failed(StageError::python(
                        py,
                        format!("module {}: frame changes", hooks.module_name),
                        &e,
                    )),
                }
            } else if keep == Some(false) {
                Verdict::Drop
            } else {
                Verdict::Failed(StageError::plain(format!(
                    "module {}: {}() returned {} (expected True, False or None)",
                    hooks.module_name,
                    hooks.process_name,
                    result
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                )))
            }
        }
    };
    let mut report = frame_checks::after_call(element, stats, hooks, &frame);
    // A write into a shared buffer outweighs what the call returned or raised.
    let verdict = match report.take_wrote() {
        Some(error) => Verdict::Failed(error),
        None => verdict,
    };
    let device_mapped = frame.get().device_mapped();
    // Unmaps now unless Python kept the frame or a view of it.
    drop(frame);
    (verdict, report, device_mapped)
}

/// `process_batch(frames)`: one call for the batch, then each frame's verdict and
/// checks. It returns None (all pass) or one verdict per frame.
fn call_batch(
    py: Python<'_>,
    hooks: &Hooks,
    buffers: &[gst::Buffer],
    layout: &crate::frame::layout::FrameLayout,
    writable: bool,
    element: &gst::Element,
    stats: &StageStats,
) -> Vec<(Verdict, CallReport, bool)> {
    let all = |error: StageError| -> Vec<(Verdict, CallReport, bool)> {
        buffers
            .iter()
            .map(|_| (Verdict::Failed(error.clone()), CallReport::default(), false))
            .collect()
    };
    let mut frames = Vec::with_capacity(buffers.len());
    for buffer in buffers {
        let check_readonly = !writable && frame_checks::picks_readonly_check(stats);
        let frame = match Frame::new(buffer, layout, writable, check_readonly) {
            Ok(frame) => frame,
            Err(e) => {
                return buffers
                    .iter()
                    .map(|_| (Verdict::Invalid(e.clone()), CallReport::default(), false))
                    .collect()
            }
        };
        match Bound::new(py, frame.made_by(hooks.stage_name.clone_ref(py))) {
            Ok(frame) => frames.push(frame),
            Err(e) => return all(StageError::python(py, "creating the frame", &e)),
        }
    }
    let list = match pyo3::types::PyList::new(py, &frames) {
        Ok(list) => list,
        Err(e) => return all(StageError::python(py, "creating the batch", &e)),
    };
    let verdicts: Result<Vec<Option<bool>>, StageError> =
        match hooks.process.bind(py).call1((&list,)) {
            Err(e) => Err(StageError::python(
                py,
                format!(
                    "module {}: {}() raised",
                    hooks.module_name, hooks.process_name
                ),
                &e,
            )),
            Ok(result) if result.is_none() => Ok(vec![Some(true); frames.len()]),
            Ok(result) => {
                // An iterable of verdicts; one that raises while iterated (a
                // generator) is that exception. At most one item past the frames is
                // taken: an endless iterator (itertools.repeat) is a wrong count, not
                // a loop holding the GIL while memory grows.
                let items: Result<Option<Vec<Bound<'_, PyAny>>>, StageError> =
                    match result.try_iter() {
                        Err(_) => Ok(None),
                        Ok(it) => it
                            .take(frames.len() + 1)
                            .collect::<PyResult<Vec<_>>>()
                            .map(Some)
                            .map_err(|e| {
                                StageError::python(
                                    py,
                                    format!(
                                        "module {}: iterating what {}() returned raised",
                                        hooks.module_name, hooks.process_name
                                    ),
                                    &e,
                                )
                            }),
                    };
                match items {
                    Err(error) => Err(error),
                    Ok(Some(items)) if items.len() == frames.len() => {
                        Ok(items.iter().map(crate::frame::values::verdict).collect())
                    }
                    Ok(_) => Err(StageError::plain(format!(
                        "module {}: {}() returned {} for {} frames (expected None or a \
                         list of {} booleans)",
                        hooks.module_name,
                        hooks.process_name,
                        result.repr().map(|r| r.to_string()).unwrap_or_default(),
                        frames.len(),
                        frames.len()
                    ))),
                }
            }
        };
    drop(list);
    frames
        .into_iter()
        .enumerate()
        .map(|(i, frame)| {
            let verdict = match &verdicts {
                Err(error) => Verdict::Failed(error.clone()),
                Ok(v) => match v[i] {
                    Some(true) => match frame.get().changes(py) {
                        Ok(changes) => Verdict::Pass(changes),
                        Err(e) => Verdict::Failed(StageError::python(
                            py,
                            format!("module {}: frame changes", hooks.module_name),
                            &e,
                        )),
                    },
                    Some(false) => Verdict::Drop,
                    None => Verdict::Failed(StageError::plain(format!(
                        "module {}: {}() returned a verdict that is not a boolean for frame {i}",
                        hooks.module_name, hooks.process_name
                    ))),
                },
            };
            let mut report = frame_checks::after_call(element, stats, hooks, &frame);
            let verdict = match report.take_wrote() {
                Some(error) => Verdict::Failed(error),
                None => verdict,
            };
            let device_mapped = frame.get().device_mapped();
            drop(frame);
            (verdict, report, device_mapped)
        })
        .collect()
}

#[glib::object_subclass]
impl ObjectSubclass for PyFunc {
    const NAME: &'static str = "GstSavantPyFunc";
    type Type = super::PyFunc;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").unwrap();
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                PyFunc::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |this| this.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                PyFunc::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                PyFunc::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_query(pad, parent, query),
                )
            })
            .flags(
                gst::PadFlags::PROXY_CAPS
                    | gst::PadFlags::PROXY_ALLOCATION
                    | gst::PadFlags::PROXY_SCHEDULING,
            )
            .build();
        let templ = klass.pad_template("src").unwrap();
        let srcpad = gst::Pad::builder_from_template(&templ)
            .query_function(|pad, parent, query| {
                PyFunc::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.src_query(pad, parent, query),
                )
            })
            .flags(
                gst::PadFlags::PROXY_CAPS
                    | gst::PadFlags::PROXY_ALLOCATION
                    | gst::PadFlags::PROXY_SCHEDULING,
            )
            .build();
        Self {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            runtime: StageRuntime::new(
                *CAT,
                "savantpyfunc-stats",
                StageStats::default(),
                FRAME_FORMATS,
            )
            .with_cuda_frames(),
            pool: Mutex::new(None),
            batcher: Mutex::new(None),
            handoff: Handoff::default(),
            writable: AtomicBool::new(DEFAULT_WRITABLE),
            pooled: AtomicBool::new(false),
            batching: AtomicBool::new(false),
        }
    }
}

impl ObjectImpl for PyFunc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = CodeSettings::properties(DEFAULT_FUNCTION, &Blurbs {
                module: "Python module: a file path (examples/ball.py) or a dotted name on sys.path (pkg.mod)",
                function: "Per-frame callable: a method of class-name, or a module-level function; it gets the frame and returns None/True (pass) or False (drop)",
                on_error: "What an exception in user code does: fail (ERROR, stop), skip (WARNING, pass the buffer), drop (WARNING, drop the buffer)",
                formats: "Comma-separated pixel formats the stage takes, e.g. BGR or RGBA,I420 (a subset of the sink template). Unset: the class's `formats` attribute, else every format a frame maps to arrays",
                stats: "frames, dropped, errors, python-ns(-max) in Python, gil-wait-ns(-max) waiting for the GIL, wall-ns since the first call, gil-free-samples of gil-samples (GIL released during a call), verdict on queues, readonly-checks (frames checked for writes by a read-only stage), frames-held and bytes-held (kept by Python after the calls returned); with workers max-in-flight, workers-inline",
            });
            properties.extend([
                glib::ParamSpecBoolean::builder("writable")
                    .nick("Writable")
                    .blurb("Map frames read-write so Python may modify pixels in place (copies the buffer when it is shared); false maps read-only and never copies")
                    .default_value(DEFAULT_WRITABLE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("workers")
                    .nick("Workers")
                    .blurb("Frames in the Python call at once, on this many threads; output keeps input order. 1 calls Python on the streaming thread")
                    .minimum(1)
                    .maximum(MAX_WORKERS)
                    .default_value(DEFAULT_WORKERS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("For a class with process_batch(self, frames): up to this many frames per call, collected across sources, one GIL hand-over per batch; frames leave in input order. Needs process_batch when above 1")
                    .minimum(1)
                    .maximum(MAX_BATCH_SIZE)
                    .default_value(DEFAULT_BATCH_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-timeout")
                    .nick("Batch timeout")
                    .blurb("Milliseconds a partial batch waits for more frames after its first one before process_batch gets it anyway")
                    .maximum(60_000)
                    .default_value(DEFAULT_BATCH_TIMEOUT_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("cuda-device-id")
                    .nick("CUDA device")
                    .blurb("The GPU whose primary context (the one CuPy and PyTorch use) this element gives the pipeline's CUDA elements when they ask for a gst.cuda.context, so CUDA frames are readable from Python")
                    .default_value(DEFAULT_CUDA_DEVICE_ID)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("memory", FrameMemory::default())
                    .nick("Frame memory")
                    .blurb("Which frames the stage negotiates. auto: system memory preferred, CUDA memory (video/x-raw(memory:CUDAMemory)) accepted, so GPU decoders such as nvh264dec hand over their own memory (for CuPy, PyTorch); system: system memory only, so a GPU decoder downloads for the stage (for numpy, OpenCV); cuda: CUDA memory only")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("instances", Instances::default())
                    .nick("Instances")
                    .blurb("With workers > 1: per-worker (one instance of class-name per worker, same kwargs; every lifecycle hook reaches each) or shared (one instance called from several threads at once: it must be thread-safe)")
                    .mutable_ready()
                    .build(),
            ]);
            properties
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        if settings.code.set(pspec.name(), value) {
            if pspec.name() == "on-error" {
                self.runtime.set_on_error(settings.code.on_error);
            }
            return;
        }
        match pspec.name() {
            "writable" => settings.writable = value.get().unwrap(),
            "workers" => settings.workers = value.get().unwrap(),
            "instances" => settings.instances = value.get().unwrap(),
            "batch-size" => settings.batch_size = value.get().unwrap(),
            "batch-timeout" => settings.batch_timeout_ms = value.get().unwrap(),
            "cuda-device-id" => settings.cuda_device_id = value.get().unwrap(),
            "memory" => settings.memory = value.get().unwrap(),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        if let Some(value) = settings.code.get(pspec.name()) {
            return value;
        }
        match pspec.name() {
            "writable" => settings.writable.to_value(),
            "workers" => settings.workers.to_value(),
            "instances" => settings.instances.to_value(),
            "batch-size" => settings.batch_size.to_value(),
            "batch-timeout" => settings.batch_timeout_ms.to_value(),
            "cuda-device-id" => settings.cuda_device_id.to_value(),
            "memory" => settings.memory.to_value(),
            "stats" => {
                let mut stats = self.runtime.stats_structure();
                if let Some(pool) = self.pool() {
                    stats.set("max-in-flight", pool.max_in_flight() as u64);
                    stats.set("workers-inline", self.handoff.is_inline());
                }
                stats.to_value()
            }
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
        self.runtime.attach_to(obj.upcast_ref());
    }
}

impl GstObjectImpl for PyFunc {}

impl ElementImpl for PyFunc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Savant Python function",
                "Filter/Video",
                "Calls a user Python class or function for every video frame, zero copy",
                "gst-savant developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            crate::sink_and_src_templates(&StageRuntime::template_caps(FRAME_FORMATS, true))
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady {
            let element = self.obj();
            if let Err(message) = self
                .runtime
                .prepare(element.upcast_ref(), &self.run_settings())
            {
                self.post_error_message(message);
                return Err(gst::StateChangeError);
            }
        }
        if transition == gst::StateChange::ReadyToPaused {
            if let Err(message) = self.start() {
                self.post_error_message(message);
                return Err(gst::StateChangeError);
            }
        }
        if transition == gst::StateChange::PausedToReady {
            // Unblocks a streaming thread waiting for a free worker.
            if let Some(pool) = self.pool() {
                pool.start_flushing();
            }
        }
        let result = self.parent_change_state(transition);
        if transition == gst::StateChange::PausedToReady
            || (transition == gst::StateChange::ReadyToPaused && result.is_err())
        {
            self.stop();
        }
        result
    }
}
