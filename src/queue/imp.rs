//! `savantqueue` implementation: GStreamer's own `queue` (blocking, never leaky, no
//! time limit) inside a bin whose ghost pads keep the statistics Savant lacks: how
//! full the queue got and how long upstream waited on it.
//!
//! Levels are the queue's own (`current-level-*`), read around each push: upstream
//! counts as blocked when the queue was full as it arrived.
//!
//! mode=auto: when the Python stage right behind the queue is GIL-bound and waits
//! for the GIL (see `handoff.rs`), the queue drains and then lets upstream call the
//! stage directly, on upstream's thread, until the stage releases the GIL again.
//! Draining pushes a marker event through the queue and waits for it to come out, so
//! nothing queued is ever overtaken.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::python::handoff;
use crate::python::stats::Snapshot;

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
const DEFAULT_STATS_INTERVAL_MS: u32 = 0;
const DEFAULT_MODE: QueueMode = QueueMode::Auto;
/// Structure name of the event that marks the end of what is queued.
const DRAIN_MARKER: &str = "savantqueue-drain";

/// Whether the queue may hand frames to a GIL-bound stage directly.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantQueueMode")]
pub enum QueueMode {
    #[default]
    #[enum_value(
        name = "Queue, but call a GIL-bound Python stage behind it directly while that is faster",
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
    stats_interval_ms: u32,
    mode: QueueMode,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            length: DEFAULT_LENGTH,
            byte_size: DEFAULT_BYTE_SIZE,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            stats_interval_ms: DEFAULT_STATS_INTERVAL_MS,
            mode: DEFAULT_MODE,
        }
    }
}

#[derive(Default)]
struct Counters {
    max_level_buffers: AtomicU64,
    max_level_bytes: AtomicU64,
    upstream_blocked_ns: AtomicU64,
    passed: AtomicU64,
    passed_directly: AtomicU64,
    mode_switches: AtomicU64,
}

impl Counters {
    fn reset(&self) {
        for c in [
            &self.max_level_buffers,
            &self.max_level_bytes,
            &self.upstream_blocked_ns,
            &self.passed,
            &self.passed_directly,
            &self.mode_switches,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// Upstream-thread state of the auto mode.
#[derive(Default)]
struct Handoff {
    /// Counters of the stage behind the queue at the start of the current window.
    window_start: Option<Snapshot>,
}

pub struct SavantQueue {
    queue: gst::Element,
    sinkpad: gst::GhostPad,
    srcpad: gst::GhostPad,
    settings: Mutex<Settings>,
    counters: Counters,
    /// Frames go straight to the stage behind the queue (auto mode).
    direct: AtomicBool,
    handoff: Mutex<Handoff>,
    /// Set by the queue's thread when the drain marker came out.
    drained: (Mutex<bool>, Condvar),
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
        if settings.mode == QueueMode::Auto {
            // Stage counters move once per frame: looking every few frames is enough.
            if self.counters.passed.load(Relaxed).is_multiple_of(8) {
                self.update_mode()?;
            }
        } else if self.direct.load(Relaxed) {
            self.direct.store(false, Relaxed);
        }
        if self.direct.load(Relaxed) {
            self.counters.passed.fetch_add(1, Relaxed);
            self.counters.passed_directly.fetch_add(1, Relaxed);
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
        result
    }

    /// Decides, once per window of the stage's frames, whether to call it directly.
    fn update_mode(&self) -> Result<(), gst::FlowError> {
        let Some(stage) = self.stage_behind() else {
            return Ok(());
        };
        let now = stage.stage_stats().snapshot();
        let mut handoff = self.handoff.lock().unwrap();
        let Some(start) = handoff.window_start else {
            handoff.window_start = Some(now);
            return Ok(());
        };
        let window = now - start;
        if window.frames < handoff::WINDOW_FRAMES {
            return Ok(());
        }
        handoff.window_start = Some(now);
        drop(handoff);
        let direct = self.direct.load(Relaxed);
        match handoff::next_mode(direct, &window) {
            Some(true) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "{} holds the GIL and waits for it: calling it directly",
                    stage.name()
                );
                self.drain()?;
                self.direct.store(true, Relaxed);
                self.counters.mode_switches.fetch_add(1, Relaxed);
            }
            Some(false) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "{} releases the GIL: queueing again",
                    stage.name()
                );
                self.direct.store(false, Relaxed);
                self.counters.mode_switches.fetch_add(1, Relaxed);
            }
            None => {}
        }
        Ok(())
    }

    /// The savantpyfunc fed by this queue, if that is what follows it.
    fn stage_behind(&self) -> Option<crate::pyfunc::PyFunc> {
        self.srcpad
            .peer()?
            .parent_element()?
            .downcast::<crate::pyfunc::PyFunc>()
            .ok()
    }

    /// Waits until everything queued has left the queue, by sending a marker after it.
    fn drain(&self) -> Result<(), gst::FlowError> {
        *self.drained.0.lock().unwrap() = false;
        let marker = gst::event::CustomDownstream::new(gst::Structure::new_empty(DRAIN_MARKER));
        if !gst::Pad::event_default(&self.sinkpad, Some(&*self.obj()), marker) {
            return Err(gst::FlowError::Flushing);
        }
        let mut drained = self.drained.0.lock().unwrap();
        while !*drained {
            if self.sinkpad.pad_flags().contains(gst::PadFlags::FLUSHING) {
                return Err(gst::FlowError::Flushing);
            }
            drained = self
                .drained
                .1
                .wait_timeout(drained, Duration::from_millis(10))
                .unwrap()
                .0;
        }
        Ok(())
    }

    // The queue's thread, for each event leaving the queue.
    fn src_internal_event(&self, pad: &gst::ProxyPad, event: gst::Event) -> bool {
        if event.type_() == gst::EventType::CustomDownstream
            && event.structure().is_some_and(|s| s.name() == DRAIN_MARKER)
        {
            *self.drained.0.lock().unwrap() = true;
            self.drained.1.notify_all();
            return true;
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
        let serialized_data =
            event.is_serialized() && !matches!(event.type_(), gst::EventType::FlushStop);
        if serialized_data && self.direct.load(Relaxed) {
            // Nothing is queued in direct mode: serialized events keep their place.
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
        let frame = info.size() as u64;
        let bound = match (settings.length, settings.byte_size) {
            (0, 0) => None,
            (0, bytes) => Some(bytes + frame),
            (length, 0) => Some(length as u64 * frame),
            (length, bytes) => Some((length as u64 * frame).min(bytes + frame)),
        };
        match bound {
            Some(bound) => gst::info!(
                CAT,
                imp = self,
                "may hold {} MiB ({} frames of {} bytes)",
                bound / (1 << 20),
                bound / frame.max(1),
                frame
            ),
            None => gst::info!(CAT, imp = self, "unbounded (length=0, byte-size=0)"),
        }
        if settings.memory_budget > 0 && bound.is_none_or(|b| b > settings.memory_budget) {
            let held = bound.map_or("an unbounded amount".to_owned(), |b| format!("{b} bytes"));
            gst::element_imp_warning!(
                self,
                gst::ResourceError::NoSpaceLeft,
                (
                    "savantqueue may hold {} ({} x {}x{} {} frames), over its memory-budget of {} bytes",
                    held,
                    settings.length,
                    info.width(),
                    info.height(),
                    info.format().to_str(),
                    settings.memory_budget
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
        gst::Structure::builder("savantqueue-stats")
            .field("level-buffers", level)
            .field("level-bytes", bytes)
            .field("max-level-buffers", c.max_level_buffers.load(Relaxed))
            .field("max-level-bytes", c.max_level_bytes.load(Relaxed))
            .field("upstream-blocked-ns", c.upstream_blocked_ns.load(Relaxed))
            .field("passed", c.passed.load(Relaxed))
            .field("passed-directly", c.passed_directly.load(Relaxed))
            .field("mode-switches", c.mode_switches.load(Relaxed))
            .field("direct", self.direct.load(Relaxed))
            .field("length", settings.length)
            .field("byte-size", settings.byte_size)
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
            direct: AtomicBool::new(false),
            handoff: Mutex::new(Handoff::default()),
            drained: (Mutex::new(false), Condvar::new()),
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
                    .blurb("Bytes this queue may hold at most by its limits and the caps' frame size; more posts a WARNING at caps time. 0 = no check")
                    .default_value(DEFAULT_MEMORY_BUDGET)
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
                    .blurb("auto: when the Python stage behind the queue holds the GIL and waits for it, or its calls are shorter than a thread hand-over (50 us), call it directly from upstream's thread (a queue cannot help it there); always: always queue")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("level-buffers/-bytes now, max-level-buffers/-bytes reached, upstream-blocked-ns (time upstream waited on a full queue), passed, passed-directly, mode-switches, direct")
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
            "stats-interval" => settings.stats_interval_ms.to_value(),
            "mode" => settings.mode.to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
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
        // SAFETY: replaces the proxy's default with a function that calls it.
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
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Savant queue",
                "Generic",
                "Bounded, blocking queue ahead of a Python stage, with level and blocking statistics",
                "gst-savant developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::new_any();
            crate::sink_and_src_templates(&caps)
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            self.counters.reset();
            *self.last_stats_post.lock().unwrap() = None;
            self.direct.store(false, Relaxed);
            *self.handoff.lock().unwrap() = Handoff::default();
        }
        self.parent_change_state(transition)
    }
}

impl BinImpl for SavantQueue {}
