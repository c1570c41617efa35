//! `savantqueue` implementation: GStreamer's own `queue` (blocking, never leaky, no
//! time limit) inside a bin whose ghost pads keep the statistics Savant lacks: how
//! full the queue got and how long upstream waited on it.
//!
//! Levels are the queue's own (`current-level-*`), read around each push: upstream
//! counts as blocked when the queue was full as it arrived.
//!
//! mode=auto: when the Python stage right behind the queue is GIL-bound and waits
//! for the GIL, or its calls are shorter than a hand-over (the rule and its
//! invariants: `stage/handoff.rs`), the queue drains and then lets upstream run the
//! stage *inline*, on upstream's own thread, until the stage releases the GIL again.
//!
//! When inline is allowed (`inline_is_safe`), on top of handoff.rs's invariants:
//! - only while the element is PLAYING with no state change pending, and never
//!   across one: PLAYING -> PAUSED leaves inline first. A sink prerolling in PAUSED
//!   blocks the thread that pushes into it.
//! - only when the thread that pushes into the queue pushes nowhere else (no tee,
//!   demuxer or other branching element between it and the queue without a thread
//!   boundary). Otherwise a sink prerolling behind the stage would block the thread
//!   that another branch's sink needs to preroll: PLAYING -> PAUSED and flushing
//!   seeks in PAUSED would never complete, which a real queue prevents.
//! - draining pushes a marker event through the queue and waits for it to come out,
//!   so nothing queued is overtaken; if it does not come out within `DRAIN_TIMEOUT`
//!   (downstream is blocked, e.g. prerolling), the queue stays a queue.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::frame::source;
use crate::stage::handoff::Handoff;
use crate::stage::runtime::stage_stats;
use crate::stage::stats::StageStats;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantqueue",
        gst::DebugColorFlags::empty(),
        Some("Savant bounded queue ahead of a Python stage"),
    )
});

const DEFAULT_LENGTH: u32 = 10;
const DEFAULT_BYTE_SIZE: u64 = 0;
const DEFAULT_MEMORY_BUDGET: u64 = 0;
const DEFAULT_GPU_MEMORY_BUDGET: u64 = 0;
const DEFAULT_STATS_INTERVAL_MS: u32 = 0;
const DEFAULT_MODE: QueueMode = QueueMode::Auto;
/// Structure name of the event that marks the end of what is queued.
const DRAIN_MARKER: &str = "savantqueue-drain";
/// How long going inline waits for the queue to drain before giving up.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Branching elements and bins walked upstream at most, looking for the thread
/// that feeds the queue.
const MAX_UPSTREAM_DEPTH: u32 = 64;

/// Whether the queue may run a GIL-bound or short stage inline on upstream's thread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantQueueMode")]
pub enum QueueMode {
    #[default]
    #[enum_value(
        name = "Queue, but run a GIL-bound or short Python stage behind it inline on upstream's thread while that is faster and safe",
        nick = "auto"
    )]
    Auto,
    #[enum_value(name = "Always queue (Savant's behaviour)", nick = "always")]
    Always,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    length: u32,
    byte_size: u64,
    memory_budget: u64,
    gpu_memory_budget: u64,
    stats_interval_ms: u32,
    mode: QueueMode,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            length: DEFAULT_LENGTH,
            byte_size: DEFAULT_BYTE_SIZE,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            gpu_memory_budget: DEFAULT_GPU_MEMORY_BUDGET,
            stats_interval_ms: DEFAULT_STATS_INTERVAL_MS,
            mode: DEFAULT_MODE,
        }
    }
}

#[derive(Default)]
struct Counters {
    max_level_buffers: AtomicU64,
    max_level_bytes: AtomicU64,
    /// Of those, the most in GPU memory (frames of `memory:CUDAMemory` caps).
    max_level_gpu_bytes: AtomicU64,
    upstream_blocked_ns: AtomicU64,
    passed: AtomicU64,
    passed_inline: AtomicU64,
    /// The largest frame: the caps' frame size, raised by any larger buffer (GPU
    /// decoders pad their frames: 1080p NV12 from nvh264dec is 4.4 MB, not 3.1).
    frame_bytes: AtomicU64,
    /// Sources of a savantmux upstream now (their add events minus deletes): they
    /// share this queue's length, they do not multiply it.
    sources: AtomicU64,
    /// The current caps put frames in CUDA memory: what the queue holds is GPU
    /// memory (nvcodec's buffers hold one CUDA memory each), counted apart from
    /// system memory.
    gpu: AtomicBool,
}

impl Counters {
    fn reset(&self) {
        for c in [
            &self.frame_bytes,
            &self.sources,
            &self.max_level_buffers,
            &self.max_level_bytes,
            &self.max_level_gpu_bytes,
            &self.upstream_blocked_ns,
            &self.passed,
            &self.passed_inline,
        ] {
            c.store(0, Relaxed);
        }
        self.gpu.store(false, Relaxed);
    }
}

pub struct SavantQueue {
    queue: gst::Element,
    sinkpad: gst::GhostPad,
    srcpad: gst::GhostPad,
    settings: Mutex<Settings>,
    counters: Counters,
    /// Whether upstream runs the stage behind the queue inline (auto mode).
    handoff: Handoff,
    /// Drain markers sent, and (with the condvar) the last one that came out.
    markers_sent: AtomicU64,
    drained: (Mutex<u64>, Condvar),
    /// When stats were last posted, for `stats-interval`.
    last_stats_post: Mutex<Option<Instant>>,
}

impl SavantQueue {
    // Upstream's thread: measures how long it was held up by a full queue.
    fn sink_chain(
        &self,
        pad: &gst::GhostPad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = *self.settings.lock().unwrap();
        self.counters
            .frame_bytes
            .fetch_max(buffer.size() as u64, Relaxed);
        if settings.mode == QueueMode::Auto {
            self.update_mode()?;
        } else if self.handoff.is_inline() {
            self.handoff.leave_inline();
        }
        if self.handoff.is_inline() {
            self.counters.passed.fetch_add(1, Relaxed);
            self.counters.passed_inline.fetch_add(1, Relaxed);
            let result = self.srcpad.push(buffer);
            self.maybe_post_periodic_stats(settings.stats_interval_ms);
            return result;
        }
        let (level, bytes) = self.level();
        let full = (settings.length > 0 && level >= settings.length as u64)
            || (settings.byte_size > 0 && bytes >= settings.byte_size);
        let started = full.then(Instant::now);
        let result = gst::ProxyPad::chain_default(pad, Some(&*self.obj()), buffer);
        if let Some(started) = started {
            self.counters
                .upstream_blocked_ns
                .fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
        }
        let (level, bytes) = self.level();
        self.counters.max_level_buffers.fetch_max(level, Relaxed);
        self.counters.max_level_bytes.fetch_max(bytes, Relaxed);
        if self.counters.gpu.load(Relaxed) {
            self.counters.max_level_gpu_bytes.fetch_max(bytes, Relaxed);
        }
        result
    }

    /// Upstream's thread: whether to run the stage behind the queue inline from now.
    fn update_mode(&self) -> Result<(), gst::FlowError> {
        if !self.handoff.due() {
            return Ok(());
        }
        // The pipeline's shape may change (a tee branch added).
        if self.handoff.is_inline() && !self.inline_is_safe() {
            gst::info!(
                CAT,
                imp = self,
                "inline is no longer safe here: queueing again"
            );
            self.handoff.leave_inline();
        }
        let Some(stage) = self.stage_behind() else {
            return Ok(());
        };
        match self.handoff.decide(&stage) {
            // Draining first: nothing queued is overtaken (handoff.rs, invariant 2).
            Some(true) if self.inline_is_safe() && self.drain()? => {
                gst::info!(
                    CAT,
                    imp = self,
                    "the stage behind holds the GIL or its calls are short: running it inline"
                );
                self.handoff.commit(true);
            }
            Some(false) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "the stage behind releases the GIL: queueing again"
                );
                self.handoff.commit(false);
            }
            _ => {}
        }
        Ok(())
    }

    /// The statistics of the Python stage fed by this queue, if one follows it.
    fn stage_behind(&self) -> Option<Arc<StageStats>> {
        stage_stats(&self.srcpad.peer()?.parent_element()?)
    }

    /// Inline only while PLAYING and when upstream's thread feeds this queue alone
    /// (see the module docs for why).
    fn inline_is_safe(&self) -> bool {
        let obj = self.obj();
        if obj.current_state() != gst::State::Playing
            || obj.pending_state() != gst::State::VoidPending
        {
            return false;
        }
        let Some(peer) = self.sinkpad.peer() else {
            return false;
        };
        thread_feeds_only(&peer, 0)
    }

    /// Waits until everything queued has left the queue, by sending a marker after
    /// it; false when it did not within DRAIN_TIMEOUT (downstream blocked).
    fn drain(&self) -> Result<bool, gst::FlowError> {
        let marker = self.markers_sent.fetch_add(1, Relaxed) + 1;
        let event = gst::event::CustomDownstream::new(
            gst::Structure::builder(DRAIN_MARKER)
                .field("marker", marker)
                .build(),
        );
        if !gst::Pad::event_default(&self.sinkpad, Some(&*self.obj()), event) {
            return Err(gst::FlowError::Flushing);
        }
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        let mut drained = self.drained.0.lock().unwrap();
        while *drained < marker {
            if self.sinkpad.pad_flags().contains(gst::PadFlags::FLUSHING) {
                return Err(gst::FlowError::Flushing);
            }
            let now = Instant::now();
            if now >= deadline {
                gst::debug!(CAT, imp = self, "not drained in time: staying a queue");
                return Ok(false);
            }
            drained = self
                .drained
                .1
                .wait_timeout(drained, (deadline - now).min(Duration::from_millis(10)))
                .unwrap()
                .0;
        }
        Ok(true)
    }

    // The queue's thread, for each event leaving the queue.
    fn src_internal_event(&self, pad: &gst::ProxyPad, event: gst::Event) -> bool {
        if event.type_() == gst::EventType::CustomDownstream {
            if let Some(s) = event.structure().filter(|s| s.name() == DRAIN_MARKER) {
                let marker = s.get::<u64>("marker").unwrap_or(0);
                let mut drained = self.drained.0.lock().unwrap();
                *drained = (*drained).max(marker);
                self.drained.1.notify_all();
                return true;
            }
        }
        gst::Pad::event_default(pad, None::<&gst::Object>, event)
    }

    /// (buffers, bytes) in the queue now.
    fn level(&self) -> (u64, u64) {
        (
            self.queue.property::<u32>("current-level-buffers") as u64,
            self.queue.property::<u32>("current-level-bytes") as u64,
        )
    }

    fn sink_event(&self, pad: &gst::GhostPad, event: gst::Event) -> bool {
        if let gst::EventView::Caps(caps) = event.view() {
            self.check_memory(caps.caps());
        }
        match source::parse(&event).map(|(name, _)| name) {
            Some(source::ADD) => {
                self.counters.sources.fetch_add(1, Relaxed);
            }
            Some(source::DELETE) => {
                let _ = self
                    .counters
                    .sources
                    .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
            }
            _ => {}
        }
        let serialized_data =
            event.is_serialized() && !matches!(event.type_(), gst::EventType::FlushStop);
        if serialized_data && self.handoff.is_inline() {
            // Nothing is queued while inline: serialized events keep their place.
            if event.type_() == gst::EventType::Eos {
                self.post_stats();
            }
            return self.srcpad.push_event(event);
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    /// Logs what the queue may hold and warns when that exceeds `memory-budget`.
    fn check_memory(&self, caps: &gst::CapsRef) {
        let settings = *self.settings.lock().unwrap();
        let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
            return;
        };
        let gpu = caps
            .features(0)
            .is_some_and(|f| f.contains(crate::cuda::CAPS_FEATURE_CUDA_MEMORY));
        self.counters.gpu.store(gpu, Relaxed);
        let (memory, budget) = if gpu {
            (" of GPU memory", settings.gpu_memory_budget)
        } else {
            ("", settings.memory_budget)
        };
        let frame = info.size() as u64;
        let bound = capacity(&settings, frame);
        self.counters.frame_bytes.store(frame, Relaxed);
        match bound {
            Some(bound) => gst::info!(
                CAT,
                imp = self,
                "may hold {} MiB{} ({} frames of {} bytes, whichever sources they come from)",
                bound / (1 << 20),
                memory,
                bound / frame.max(1),
                frame
            ),
            None => gst::info!(CAT, imp = self, "unbounded (length=0, byte-size=0)"),
        }
        if budget > 0 && bound.is_none_or(|b| b > budget) {
            let held = bound.map_or("an unbounded amount".to_owned(), |b| format!("{b} bytes"));
            gst::element_imp_warning!(
                self,
                gst::ResourceError::NoSpaceLeft,
                (
                    "savantqueue may hold {}{} ({} x {}x{} {} frames), over its {} of {} bytes",
                    held,
                    memory,
                    settings.length,
                    info.width(),
                    info.height(),
                    info.format().to_str(),
                    if gpu {
                        "gpu-memory-budget"
                    } else {
                        "memory-budget"
                    },
                    budget
                )
            );
        }
    }

    // The queue's own thread: a buffer left the queue.
    fn on_dequeue(&self, info: &gst::PadProbeInfo) {
        match &info.data {
            Some(gst::PadProbeData::Buffer(_)) => {
                self.counters.passed.fetch_add(1, Relaxed);
                let interval = self.settings.lock().unwrap().stats_interval_ms;
                self.maybe_post_periodic_stats(interval);
            }
            Some(gst::PadProbeData::Event(event)) if event.type_() == gst::EventType::Eos => {
                self.post_stats();
            }
            _ => {}
        }
    }

    fn maybe_post_periodic_stats(&self, interval: u32) {
        if interval == 0 {
            return;
        }
        let mut last = self.last_stats_post.lock().unwrap();
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t).as_millis() >= interval as u128) {
            *last = Some(now);
            drop(last);
            self.post_stats();
        }
    }

    fn stats(&self) -> gst::Structure {
        let c = &self.counters;
        let settings = *self.settings.lock().unwrap();
        let (level, bytes) = self.level();
        let gpu = c.gpu.load(Relaxed);
        let capacity_bytes = capacity(&settings, c.frame_bytes.load(Relaxed)).unwrap_or(0);
        gst::Structure::builder("savantqueue-stats")
            .field("level-buffers", level)
            .field("level-bytes", bytes)
            .field("max-level-buffers", c.max_level_buffers.load(Relaxed))
            .field("max-level-bytes", c.max_level_bytes.load(Relaxed))
            .field("upstream-blocked-ns", c.upstream_blocked_ns.load(Relaxed))
            .field("passed", c.passed.load(Relaxed))
            .field("passed-inline", c.passed_inline.load(Relaxed))
            .field("mode-switches", self.handoff.switches())
            .field("inline", self.handoff.is_inline())
            .field("length", settings.length)
            .field("byte-size", settings.byte_size)
            .field("capacity-bytes", capacity_bytes)
            .field("sources", c.sources.load(Relaxed))
            .field("memory", if gpu { "cuda" } else { "system" })
            .field("level-gpu-bytes", if gpu { bytes } else { 0 })
            .field("max-level-gpu-bytes", c.max_level_gpu_bytes.load(Relaxed))
            .field("capacity-gpu-bytes", if gpu { capacity_bytes } else { 0 })
            .build()
    }

    fn post_stats(&self) {
        let obj = self.obj();
        let message = gst::message::Element::builder(self.stats())
            .src(&*obj)
            .build();
        let _ = obj.post_message(message);
    }

    fn apply_limits(&self, settings: &Settings) {
        self.queue.set_property("max-size-buffers", settings.length);
        self.queue.set_property(
            "max-size-bytes",
            u32::try_from(settings.byte_size).unwrap_or(u32::MAX),
        );
    }
}

/// Most bytes the queue holds with frames of `frame` bytes, by its limits; None
/// when unbounded. A byte limit lets one frame past it (the queue takes a buffer
/// while below the limit).
fn capacity(settings: &Settings, frame: u64) -> Option<u64> {
    match (settings.length, settings.byte_size) {
        (0, 0) => None,
        (0, bytes) => Some(bytes + frame),
        (length, 0) => Some(length as u64 * frame),
        (length, bytes) => Some((length as u64 * frame).min(bytes + frame)),
    }
}

#[glib::object_subclass]
impl ObjectSubclass for SavantQueue {
    const NAME: &'static str = "GstSavantQueue";
    type Type = super::SavantQueue;
    type ParentType = gst::Bin;

    fn with_class(klass: &Self::Class) -> Self {
        let queue = gst::ElementFactory::make("queue")
            .name("queue")
            .property("max-size-time", 0u64)
            .property_from_str("leaky", "no")
            .build()
            .expect("the coreelements queue is always there");
        let templ = klass.pad_template("sink").unwrap();
        let sinkpad = gst::GhostPad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                SavantQueue::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |this| this.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                SavantQueue::catch_panic_pad_function(
                    parent,
                    || false,
                    |this| this.sink_event(pad, event),
                )
            })
            .build();
        let templ = klass.pad_template("src").unwrap();
        let srcpad = gst::GhostPad::builder_from_template(&templ).build();
        Self {
            queue,
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            counters: Counters::default(),
            handoff: Handoff::default(),
            markers_sent: AtomicU64::new(0),
            drained: (Mutex::new(0), Condvar::new()),
            last_stats_post: Mutex::new(None),
        }
    }
}

impl ObjectImpl for SavantQueue {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("length")
                    .nick("Length")
                    .blurb("Most buffers the queue holds before upstream blocks (Savant's buffer_queues.length); 0 = no limit")
                    .default_value(DEFAULT_LENGTH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("byte-size")
                    .nick("Byte size")
                    .blurb("Most bytes the queue holds before upstream blocks (Savant's buffer_queues.byte_size); 0 = no limit")
                    .maximum(u32::MAX as u64)
                    .default_value(DEFAULT_BYTE_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("memory-budget")
                    .nick("Memory budget")
                    .blurb("Bytes of system memory this queue may hold at most by its limits and the caps' frame size; more posts a WARNING at caps time. 0 = no check")
                    .default_value(DEFAULT_MEMORY_BUDGET)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("gpu-memory-budget")
                    .nick("GPU memory budget")
                    .blurb("As memory-budget, for frames in GPU memory (video/x-raw(memory:CUDAMemory) caps): GPU bytes this queue may hold at most; more posts a WARNING at caps time. 0 = no check")
                    .default_value(DEFAULT_GPU_MEMORY_BUDGET)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("stats-interval")
                    .nick("Statistics interval")
                    .blurb("Post the stats as an element message every this many milliseconds (they are always posted at EOS); 0 = only at EOS")
                    .default_value(DEFAULT_STATS_INTERVAL_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", DEFAULT_MODE)
                    .nick("Mode")
                    .blurb("auto: when the Python stage behind the queue holds the GIL and waits for it (calls under 2 ms), or its calls are shorter than a thread hand-over (50 us), run it inline on upstream's thread (a queue cannot help it there), only while PLAYING and only where upstream's thread feeds this queue alone (no tee or demuxer without a queue in between); always: always queue")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("level-buffers/-bytes now, max-level-buffers/-bytes reached, upstream-blocked-ns (time upstream waited on a full queue), passed, passed-inline (run inline on upstream's thread), mode-switches, inline (now), capacity-bytes (most bytes it can hold: length x the largest frame, from the caps or a larger buffer seen, or byte-size plus a frame; 0 = unbounded), sources (sources of a savantmux upstream, which share the length), memory (system or cuda: where the current caps put frames), level-gpu-bytes, max-level-gpu-bytes and capacity-gpu-bytes (the part of the byte figures in GPU memory)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "length" => settings.length = value.get().unwrap(),
            "byte-size" => settings.byte_size = value.get().unwrap(),
            "memory-budget" => settings.memory_budget = value.get().unwrap(),
            "gpu-memory-budget" => settings.gpu_memory_budget = value.get().unwrap(),
            "stats-interval" => settings.stats_interval_ms = value.get().unwrap(),
            "mode" => settings.mode = value.get().unwrap(),
            _ => unimplemented!(),
        }
        let settings = *settings;
        self.apply_limits(&settings);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = *self.settings.lock().unwrap();
        match pspec.name() {
            "length" => settings.length.to_value(),
            "byte-size" => settings.byte_size.to_value(),
            "memory-budget" => settings.memory_budget.to_value(),
            "gpu-memory-budget" => settings.gpu_memory_budget.to_value(),
            "stats-interval" => settings.stats_interval_ms.to_value(),
            "mode" => settings.mode.to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        crate::stage::registry::register(obj.upcast_ref());
        obj.add(&self.queue).unwrap();
        self.sinkpad
            .set_target(Some(&self.queue.static_pad("sink").unwrap()))
            .unwrap();
        self.srcpad
            .set_target(Some(&self.queue.static_pad("src").unwrap()))
            .unwrap();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
        self.apply_limits(&Settings::default());
        let weak = obj.downgrade();
        let internal = self
            .srcpad
            .internal()
            .expect("a ghost pad has an internal pad");
        // Drain markers are answered here, on the internal pad the queue pushes into;
        // other events take the default path (forwarded to the ghost pad).
        // SAFETY: GStreamer calls a pad's event function and reads its data without a
        // lock, and setting one frees the one it replaces, so it may only be set while
        // no thread can send events through the pad. Here the bin is still being
        // constructed (g_object_new has not returned), so nothing outside can have
        // linked or activated its pads, and the queue is in no pipeline yet. The
        // trampoline treats the pad as a ProxyPad without checking, which it is: a
        // ghost pad's internal pad is a GstProxyPad.
        unsafe {
            internal.set_event_function(move |pad, _parent, event| match weak.upgrade() {
                Some(obj) => obj.imp().src_internal_event(pad, event),
                None => gst::Pad::event_default(pad, None::<&gst::Object>, event),
            });
        }
        let weak = obj.downgrade();
        self.queue.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_pad, info| {
                if let Some(obj) = weak.upgrade() {
                    obj.imp().on_dequeue(info);
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
}

impl GstObjectImpl for SavantQueue {}

impl ElementImpl for SavantQueue {
    element_metadata!(
        "Savant queue",
        "Generic",
        "Bounded, blocking queue ahead of a Python stage, with level and blocking statistics",
    );

    element_pad_templates!(crate::stage::pads::any_templates());

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => {
                self.counters.reset();
                *self.last_stats_post.lock().unwrap() = None;
                self.handoff.reset();
            }
            // Before the sinks can block upstream's thread in preroll: from the next
            // buffer on, frames go through the queue's own thread again.
            gst::StateChange::PlayingToPaused => self.handoff.leave_inline(),
            _ => {}
        }
        self.parent_change_state(transition)
    }
}

impl BinImpl for SavantQueue {}

/// Whether the thread that pushes out of `src` pushes nowhere else: walking
/// upstream to the thread's origin (a pad with its own task: a queue, a source, an
/// aggregator, a demuxer's pull loop), through bins' ghost pads, and refusing any
/// element with more than one src pad (tee, demuxers) on the way.
fn thread_feeds_only(src: &gst::Pad, depth: u32) -> bool {
    if depth > MAX_UPSTREAM_DEPTH {
        return false;
    }
    if src.task_state() != gst::TaskState::Stopped {
        return true;
    }
    if let Some(ghost) = src.downcast_ref::<gst::GhostPad>() {
        // A bin's src: the data comes from its target inside the bin.
        return ghost
            .target()
            .is_some_and(|target| thread_feeds_only(&target, depth + 1));
    }
    if let Some(proxy) = src.downcast_ref::<gst::ProxyPad>() {
        // Inside a bin, fed through its sink ghost pad: the data comes from the
        // ghost pad's peer outside.
        if let Some(ghost) = proxy
            .internal()
            .and_then(|pad| pad.downcast::<gst::GhostPad>().ok())
        {
            return ghost
                .peer()
                .is_some_and(|peer| thread_feeds_only(&peer, depth + 1));
        }
    }
    let Some(element) = src.parent_element() else {
        return false;
    };
    if element.src_pads().len() != 1 {
        return false;
    }
    element.sink_pads().iter().all(|sink| {
        sink.task_state() != gst::TaskState::Stopped
            || sink
                .peer()
                .is_none_or(|peer| thread_feeds_only(&peer, depth + 1))
    })
}
