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

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::frame::held::Crossing;
use crate::frame::layout::FRAME_FORMATS;
use crate::python::loader::DEFAULT_FUNCTION;
use crate::stage::call::{self, Buffers, Outcome};
use crate::stage::caps::FrameMemory;
use crate::stage::handoff::Handoff;
use crate::stage::lifecycle::Lifecycle;
use crate::stage::pads::{self, StagePads};
use crate::stage::parts::{HasStageParts, StageParts};
use crate::stage::runtime::StageRuntime;
use crate::stage::settings::{Blurbs, OwnProperties, StageSettings};
use crate::stage::stats::StageStats;

use super::batch::Batcher;
use super::protocol::{BatchCall, FrameCall};
use super::workers::{Jobs, WorkerPool};

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
/// The fields savantpyfunc adds to the shared stats (stage/stats.rs) with workers.
const POOL_FIELDS: &[(&str, &str)] = &[
    (
        "max-in-flight",
        "with workers: the most frames in the pool at once",
    ),
    (
        "workers-inline",
        "with workers: whether frames run inline now",
    ),
    (
        "batch-frames",
        "with batch-size > 1: frames waiting for their batch",
    ),
    (
        "batch-bytes",
        "the bytes of those frames, counted against max-bytes-held",
    ),
];

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
pub struct Settings {
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

impl OwnProperties for Settings {
    const CODE_REQUIRED: bool = true;

    fn set(&mut self, name: &str, value: &glib::Value) {
        match name {
            "writable" => self.writable = value.get().unwrap(),
            "workers" => self.workers = value.get().unwrap(),
            "instances" => self.instances = value.get().unwrap(),
            "batch-size" => self.batch_size = value.get().unwrap(),
            "batch-timeout" => self.batch_timeout_ms = value.get().unwrap(),
            "cuda-device-id" => self.cuda_device_id = value.get().unwrap(),
            "memory" => self.memory = value.get().unwrap(),
            _ => unimplemented!(),
        }
    }

    fn get(&self, name: &str) -> glib::Value {
        match name {
            "writable" => self.writable.to_value(),
            "workers" => self.workers.to_value(),
            "instances" => self.instances.to_value(),
            "batch-size" => self.batch_size.to_value(),
            "batch-timeout" => self.batch_timeout_ms.to_value(),
            "cuda-device-id" => self.cuda_device_id.to_value(),
            "memory" => self.memory.to_value(),
            _ => unimplemented!(),
        }
    }
}

pub struct PyFunc {
    /// Pads, settings and runtime.
    stage: StageParts<Settings>,
    /// workers > 1: the pool.
    pool: Mutex<Option<Arc<WorkerPool>>>,
    /// A class with `process_batch`: the batch being collected.
    batcher: Mutex<Option<Arc<Batcher>>>,
    /// Whether workers pay for this stage (stage/handoff.rs); when they do not
    /// (short or GIL-bound calls), frames run inline on the streaming thread.
    handoff: Handoff,
    /// Per-run copies of settings read on every buffer (no settings lock there).
    writable: AtomicBool,
    /// A batcher is running: checked before taking its lock on every buffer.
    batching: AtomicBool,
    /// A worker pool is running: likewise, so a stage without workers takes no lock
    /// per buffer.
    pooling: AtomicBool,
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
                return batcher.add(buffer);
            }
        }
        if let Some(pool) = self.pooling.load(Relaxed).then(|| self.pool()).flatten() {
            self.update_worker_mode(&pool)?;
            if !self.handoff.is_inline() {
                return pool.submit(buffer);
            }
        }
        match self.process(buffer, 0) {
            Outcome::Push(buffer, _) => self.stage.srcpad.push(buffer),
            Outcome::Dropped => Ok(gst::FlowSuccess::Ok),
            Outcome::Failed => Err(gst::FlowError::Error),
        }
    }

    /// Once per window of frames: pool or inline (see stage/handoff.rs). Going
    /// inline waits until the pool has pushed everything, so order is kept.
    fn update_worker_mode(&self, pool: &WorkerPool) -> Result<(), gst::FlowError> {
        if !self.handoff.due() {
            return Ok(());
        }
        match self.handoff.decide(&self.stage.runtime.stats) {
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
        let device = self.stage.settings.lock().unwrap().own.cuda_device_id;
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
        self.cuda_context_query(query) || self.stage.runtime.pad_query(pad, parent, query)
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
        if !self.stage.runtime.pad_query(pad, parent, query) {
            return false;
        }
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let added = {
                let settings = self.stage.settings.lock().unwrap();
                (self.batcher().is_some() && settings.own.batch_size > 1)
                    .then(|| gst::ClockTime::from_mseconds(settings.own.batch_timeout_ms.into()))
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
    fn run_batch(&self, buffers: Vec<gst::Buffer>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let element = self.obj();
        let outcomes = match call::run(
            &self.stage.runtime,
            element.upcast_ref(),
            &mut BatchCall,
            Buffers::from_vec(buffers),
            0,
            self.writable.load(Relaxed),
        ) {
            Ok(outcomes) => outcomes,
            Err(gst::FlowError::Flushing) => return Ok(gst::FlowSuccess::Ok),
            Err(_) => return Err(gst::FlowError::Error),
        };
        let mut result = Ok(gst::FlowSuccess::Ok);
        for outcome in outcomes {
            match outcome {
                Outcome::Push(buffer, _) => {
                    let pushed = self.stage.srcpad.push(buffer);
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

    /// One frame through the per-frame protocol (stage/call.rs), with worker
    /// `worker`'s instance (0 on the streaming thread); errors are posted before
    /// returning Failed.
    fn process(&self, buffer: gst::Buffer, worker: usize) -> Outcome {
        let element = self.obj();
        let outcomes = call::run(
            &self.stage.runtime,
            element.upcast_ref(),
            &mut FrameCall,
            smallvec::smallvec![buffer],
            worker,
            self.writable.load(Relaxed),
        );
        match outcomes {
            Ok(mut outcomes) => outcomes.pop().unwrap_or(Outcome::Failed),
            Err(gst::FlowError::Flushing) => Outcome::Dropped,
            Err(_) => Outcome::Failed,
        }
    }

    // With workers, serialized events wait for the frames before them; flushes
    // discard what is in flight.
    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let element = self.obj();
        // The runtime's handling (hooks, then downstream), after the batcher's or
        // the pool's own.
        let forward = |event| {
            self.stage
                .runtime
                .sink_event(element.upcast_ref(), pad, event)
        };
        if let Some(batcher) = self.batcher() {
            return match event.type_() {
                gst::EventType::FlushStart => {
                    // Downstream first: that releases a batch blocked in a push.
                    let forwarded = forward(event);
                    batcher.start_flushing();
                    forwarded
                }
                gst::EventType::FlushStop => {
                    batcher.stop_flushing();
                    forward(event)
                }
                _ => {
                    if event.is_serialized() {
                        // Frames before the event go first; a flow error is
                        // returned by the next chain call.
                        let _ = batcher.drain();
                    }
                    forward(event)
                }
            };
        }
        let Some(pool) = self.pool() else {
            return forward(event);
        };
        match event.type_() {
            gst::EventType::FlushStart => {
                pool.start_flushing();
                forward(event)
            }
            gst::EventType::FlushStop => {
                pool.stop_flushing();
                forward(event)
            }
            _ => {
                if event.is_serialized() {
                    // Its flow is returned by the next chain call.
                    let _ = pool.drain();
                }
                forward(event)
            }
        }
    }

    /// READY -> PAUSED: the user's code (an instance per worker, or one), then the
    /// workers.
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        let (mut run, own) = self.stage.start_snapshot();
        let batch_size = own.batch_size as usize;
        let batch_timeout = std::time::Duration::from_millis(own.batch_timeout_ms.into());
        let workers = own.workers as usize;
        run.memory = own.memory;
        self.writable.store(own.writable, Relaxed);
        if own.instances == Instances::PerWorker {
            run.instances = workers;
        }
        self.stage.runtime.start(element, run)?;
        let batched = self.stage.runtime.batched().unwrap_or(false);
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
            self.stage.runtime.stop(element);
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                ("{}", message)
            ));
        }
        if batched {
            let weak = self.obj().downgrade();
            let run = move |frames| match weak.upgrade() {
                Some(element) => element.imp().run_batch(frames),
                None => Err(gst::FlowError::Flushing),
            };
            let report = {
                let weak = self.obj().downgrade();
                move |crossing: Crossing| {
                    if let Some(element) = weak.upgrade() {
                        let text = crossing.message(&element.name());
                        gst::element_warning!(element, gst::LibraryError::Failed, ("{}", text));
                    }
                }
            };
            let held = self.stage.runtime.stats.held.clone();
            let batcher = Batcher::start(run, batch_size, batch_timeout, held, report);
            *self.batcher.lock().unwrap() = Some(Arc::new(batcher));
            self.batching.store(true, Relaxed);
        }
        self.handoff.reset();
        if workers > 1 {
            let (process, push) = (self.obj().downgrade(), self.obj().downgrade());
            let jobs = Jobs {
                process: Box::new(move |buffer, worker| match process.upgrade() {
                    Some(element) => element.imp().process(buffer, worker),
                    None => Outcome::Dropped,
                }),
                push: Box::new(move |buffer| match push.upgrade() {
                    Some(element) => element.imp().stage.srcpad.push(buffer),
                    None => Ok(gst::FlowSuccess::Ok),
                }),
            };
            let pool = Arc::new(WorkerPool::start(jobs, workers));
            *self.pool.lock().unwrap() = Some(pool);
            self.pooling.store(true, Relaxed);
        }
        Ok(())
    }

    /// PAUSED -> READY, after the pads were deactivated: workers end after their
    /// current call; then every instance's on_stop.
    fn stop(&self) {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        self.batching.store(false, Relaxed);
        let batcher = self.batcher.lock().unwrap().take();
        if let Some(batcher) = batcher {
            batcher.shutdown();
        }
        self.pooling.store(false, Relaxed);
        let pool = self.pool.lock().unwrap().take();
        if let Some(pool) = pool {
            pool.shutdown();
        }
        self.stage.runtime.stop(element);
    }
}

impl HasStageParts for PyFunc {
    type Own = Settings;

    fn stage(&self) -> &StageParts<Settings> {
        &self.stage
    }

    fn add_stats(&self, stats: &mut gst::Structure) {
        if let Some(pool) = self.pool() {
            stats.set("max-in-flight", pool.max_in_flight() as u64);
            stats.set("workers-inline", self.handoff.is_inline());
        }
        let held = &self.stage.runtime.stats.held;
        stats.set("batch-frames", held.batch_frames());
        stats.set("batch-bytes", held.batch_bytes());
    }
}

impl StagePads for PyFunc {
    const FLAGS: gst::PadFlags = gst::PadFlags::PROXY_CAPS
        .union(gst::PadFlags::PROXY_ALLOCATION)
        .union(gst::PadFlags::PROXY_SCHEDULING);

    fn on_buffer(
        &self,
        pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.sink_chain(pad, buffer)
    }

    fn on_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        self.sink_event(pad, event)
    }

    fn on_query(
        &self,
        pad: &gst::Pad,
        parent: Option<&gst::Object>,
        query: &mut gst::QueryRef,
    ) -> bool {
        match pad.direction() {
            gst::PadDirection::Src => self.src_query(pad, parent, query),
            _ => self.sink_query(pad, parent, query),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for PyFunc {
    const NAME: &'static str = "GstSavantPyFunc";
    type Type = super::PyFunc;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        Self {
            stage: StageParts::new::<Self>(
                klass,
                DEFAULT_FUNCTION,
                StageRuntime::new(
                    *CAT,
                    "savantpyfunc-stats",
                    StageStats::default(),
                    FRAME_FORMATS,
                )
                .with_cuda_frames(),
            ),
            pool: Mutex::new(None),
            batcher: Mutex::new(None),
            handoff: Handoff::default(),
            writable: AtomicBool::new(DEFAULT_WRITABLE),
            batching: AtomicBool::new(false),
            pooling: AtomicBool::new(false),
        }
    }
}

impl ObjectImpl for PyFunc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = StageSettings::properties(DEFAULT_FUNCTION, &Blurbs {
                module: "Python module: a file path (examples/ball.py) or a dotted name on sys.path (pkg.mod)",
                function: "Per-frame callable: a method of class-name, or a module-level function; it gets the frame and returns None/True (pass) or False (drop)",
                on_error: "What an exception in user code does: fail (ERROR, stop), skip (WARNING, pass the buffer), drop (WARNING, drop the buffer)",
                formats: "Comma-separated pixel formats the stage takes, e.g. BGR or RGBA,I420 (a subset of the sink template). Unset: the class's `formats` attribute, else every format a frame maps to arrays",
                stats: POOL_FIELDS,
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

    stage_object_impl!();
}

impl GstObjectImpl for PyFunc {}

impl ElementImpl for PyFunc {
    element_metadata!(
        "Savant Python function",
        "Filter/Video",
        "Calls a user Python class or function for every video frame, zero copy",
    );

    element_pad_templates!(pads::stage_templates(FRAME_FORMATS, true));

    element_change_state_by_lifecycle!();
}

impl Lifecycle for PyFunc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        PyFunc::start(self)
    }

    fn unblock(&self) {
        // Unblocks a streaming thread waiting for a free worker.
        if let Some(pool) = self.pool() {
            pool.start_flushing();
        }
    }

    fn stop(&self) {
        PyFunc::stop(self);
    }
}
