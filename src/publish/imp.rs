//! `savantpublish` implementation.
//!
//! Per buffer, on the streaming thread: the frame's message (the schema from its
//! metas, no GIL; or `to_message(frame)` in the stage's one GIL hand-over), handed
//! to the outbox; then the buffer goes on unchanged (or, in sink mode, ends here).
//! At EOS the outbox is flushed (up to `flush-timeout`) before EOS goes on.
//!
//! Sink mode: when the src pad is unlinked as the element goes to PAUSED, it sets
//! GST_ELEMENT_FLAG_SINK, consumes buffers and posts EOS itself, so a bin counts it
//! as a sink (gst-launch ends at EOS).
//!
//! Lock order: `settings`, then `state`, then `stream`; the outbox's lock is
//! taken alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use pyo3::prelude::*;

use super::destination::Destination;
use super::message::{self, FrameInfo};
use super::outbox::{Backpressure, Message, Outbox, Pushed};
use super::{sender, transport, MqttVersion, OnConnectError, Settings};
use crate::frame::layout::{FrameLayout, FRAME_FORMATS};
use crate::frame::Frame;
use crate::python::loader::{StageError, UserInstance};
use crate::stage::call::{self, raised, Outcome, Protocol, Verdict, Verdicts};
use crate::stage::lifecycle::Lifecycle;
use crate::stage::pads::{self, StagePads};
use crate::stage::parts::{HasStageParts, StageParts};
use crate::stage::runtime::StageRuntime;
use crate::stage::settings::{Blurbs, OwnProperties, StageSettings};
use crate::stage::stats::StageStats;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantpublish",
        gst::DebugColorFlags::empty(),
        Some("Savant metadata publisher"),
    )
});

const DEFAULT_FUNCTION: &str = "to_message";

/// The stats fields savantpublish adds to a stage's.
pub const PUBLISH_FIELDS: &[(&str, &str)] = &[
    ("messages", "messages made (one per frame, unless to_message returned None)"),
    ("messages-sent", "messages the broker confirmed (written, for files)"),
    ("messages-dropped", "messages dropped: oldest when the buffer was full (backpressure=drop-oldest), larger than max-bytes, or undelivered at the flush timeout or stop"),
    ("retries", "connection attempts after a failure, and batches sent again"),
    ("buffered", "messages waiting or unconfirmed now"),
    ("buffered-bytes", "their bytes"),
    ("serialize-ns", "time the streaming thread spent writing messages in the built-in schema (reading the metas included; a hook's time is python-ns)"),
];

impl OwnProperties for Settings {
    fn set(&mut self, name: &str, value: &glib::Value) {
        match name {
            "location" => {
                self.location = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "topic" => self.topic = value.get().unwrap(),
            "username" => self.username = value.get().unwrap(),
            "password" => self.password = value.get().unwrap(),
            "client-id" => {
                self.client_id = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "qos" => self.qos = value.get::<u32>().unwrap().min(1) as u8,
            "mqtt-version" => self.mqtt_version = value.get::<MqttVersion>().unwrap(),
            "max-len" => self.max_len = value.get().unwrap(),
            "max-messages" => self.max_messages = value.get().unwrap(),
            "max-bytes" => self.max_bytes = value.get().unwrap(),
            "backpressure" => self.backpressure = value.get::<Backpressure>().unwrap(),
            "flush-timeout" => self.flush_timeout_ms = value.get().unwrap(),
            "connect-timeout" => self.connect_timeout_ms = value.get().unwrap(),
            "send-timeout" => self.send_timeout_ms = value.get().unwrap(),
            "on-connect-error" => self.on_connect_error = value.get::<OnConnectError>().unwrap(),
            "max-file-bytes" => self.max_file_bytes = value.get().unwrap(),
            "max-file-seconds" => self.max_file_seconds = value.get().unwrap(),
            _ => unimplemented!(),
        }
    }

    fn get(&self, name: &str) -> glib::Value {
        match name {
            "location" => self.location.to_value(),
            "topic" => self.topic.to_value(),
            "username" => self.username.to_value(),
            "client-id" => self.client_id.to_value(),
            "qos" => u32::from(self.qos).to_value(),
            "mqtt-version" => self.mqtt_version.to_value(),
            "max-len" => self.max_len.to_value(),
            "max-messages" => self.max_messages.to_value(),
            "max-bytes" => self.max_bytes.to_value(),
            "backpressure" => self.backpressure.to_value(),
            "flush-timeout" => self.flush_timeout_ms.to_value(),
            "connect-timeout" => self.connect_timeout_ms.to_value(),
            "send-timeout" => self.send_timeout_ms.to_value(),
            "on-connect-error" => self.on_connect_error.to_value(),
            "max-file-bytes" => self.max_file_bytes.to_value(),
            "max-file-seconds" => self.max_file_seconds.to_value(),
            _ => unimplemented!(),
        }
    }
}

/// What a start made: the outbox (kept after stop for its counters) and its
/// sender thread.
struct Running {
    outbox: Arc<Outbox>,
    sender: Option<JoinHandle<()>>,
    has_hook: bool,
    flush_timeout: Duration,
}

/// What the stream told: segment, size, frames per source.
#[derive(Default)]
struct Stream {
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    width: u32,
    height: u32,
    frame_nums: HashMap<String, u64>,
    unsourced: u64,
    /// The payload size of the last message (the next one's first allocation).
    last_len: usize,
}

pub struct Publish {
    /// Pads, settings and runtime.
    stage: StageParts<Settings>,
    state: Mutex<Option<Running>>,
    stream: Mutex<Stream>,
    sink_mode: AtomicBool,
    warned_too_large: AtomicBool,
}

/// savantpublish's way of calling Python: `to_message(frame)` returns a dict (the
/// message) or None (no message for this frame); the frame always goes on.
struct MessageCall;

impl Protocol for MessageCall {
    type Kept = Option<Vec<u8>>;
    const NAME: &'static str = "to_message";

    fn call<'py>(
        &mut self,
        py: Python<'py>,
        hooks: &UserInstance,
        frames: &[Bound<'py, Frame>],
    ) -> Verdicts<Self::Kept> {
        let verdict = match hooks.process.bind(py).call1((&frames[0],)) {
            Err(e) => Verdict::Failed(raised(py, hooks, &e)),
            Ok(result) if result.is_none() => Verdict::Pass(None),
            Ok(result) if result.is_instance_of::<pyo3::types::PyDict>() => {
                let mut out = Vec::new();
                match message::write_py(&result, &mut out) {
                    Ok(()) => Verdict::Pass(Some(out)),
                    Err(e) => Verdict::Failed(StageError::plain(format!(
                        "module {}: {}() returned a dict that is not JSON: {e}",
                        hooks.module_name, hooks.process_name
                    ))),
                }
            }
            Ok(result) => Verdict::Failed(StageError::plain(format!(
                "module {}: {}() must return a dict or None, got {}",
                hooks.module_name,
                hooks.process_name,
                crate::frame::values::type_name(&result)
            ))),
        };
        smallvec::smallvec![verdict]
    }

    fn prepare(&mut self, _: Option<&UserInstance>, _: &[gst::Buffer], _: &FrameLayout) {}
}

impl Publish {
    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        let (outbox, has_hook) = match self.state.lock().unwrap().as_ref() {
            Some(running) if running.sender.is_some() => (running.outbox.clone(), running.has_hook),
            _ => return Err(gst::FlowError::Flushing),
        };
        let outcome = call::run(
            &self.stage.runtime,
            element,
            &mut MessageCall,
            smallvec::smallvec![buffer],
            0,
            false,
        )?
        .pop();
        let (buffer, made) = match outcome {
            Some(Outcome::Push(buffer, made)) => (buffer, made),
            Some(Outcome::Dropped) => return Ok(gst::FlowSuccess::Ok),
            Some(Outcome::Failed) | None => return Err(gst::FlowError::Error),
        };
        let source_id: Option<Arc<str>> =
            crate::frame::source::with_id(&buffer, |id| Arc::from(id));
        let payload = if has_hook {
            // None: the hook returned None, or failed with on-error=skip.
            made.flatten()
        } else {
            let mut stream = self.stream.lock().unwrap();
            let frame_num = match &source_id {
                Some(id) => {
                    if stream.frame_nums.len() >= crate::frame::source::MAX_SOURCES
                        && !stream.frame_nums.contains_key(&**id)
                    {
                        stream.frame_nums.clear();
                    }
                    let n = stream.frame_nums.entry(id.to_string()).or_insert(0);
                    *n += 1;
                    *n - 1
                }
                None => {
                    stream.unsourced += 1;
                    stream.unsourced - 1
                }
            };
            let pts = buffer.pts();
            let info = FrameInfo {
                source_id: source_id.as_deref(),
                frame_num,
                pts: pts.map(|t| t.nseconds()),
                running_time: stream
                    .segment
                    .as_ref()
                    .and_then(|s| s.to_running_time(pts?))
                    .map(|t| t.nseconds()),
                width: stream.width,
                height: stream.height,
            };
            let started = std::time::Instant::now();
            let mut out = Vec::with_capacity(stream.last_len + 64);
            message::write_frame(&buffer, &info, &mut out);
            stream.last_len = out.len();
            outbox
                .counters
                .serialize_ns
                .fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
            Some(out)
        };
        if let Some(payload) = payload {
            match outbox.push(Message { source_id, payload }) {
                Pushed::Queued => {}
                Pushed::DroppedOlder(n) => {
                    gst::debug!(CAT, obj = element, "outgoing buffer full: {n} dropped")
                }
                Pushed::TooLarge => {
                    if !self.warned_too_large.swap(true, Relaxed) {
                        gst::element_warning!(
                            element,
                            gst::ResourceError::NoSpaceLeft,
                            (
                                "a message larger than max-bytes ({} bytes) was dropped (counted in stats' messages-dropped; warned once)",
                                outbox.max_bytes
                            )
                        );
                    }
                }
                // Stopping, or the first connection failed (its ERROR is posted).
                Pushed::Closed => return Err(gst::FlowError::Flushing),
            }
        }
        if self.sink_mode.load(Relaxed) {
            return Ok(gst::FlowSuccess::Ok);
        }
        self.stage.srcpad.push(buffer)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        match event.view() {
            gst::EventView::Segment(segment) => {
                let mut stream = self.stream.lock().unwrap();
                stream.segment = segment.segment().clone().downcast::<gst::ClockTime>().ok();
            }
            gst::EventView::Caps(caps) => {
                if let Ok(info) = gst_video::VideoInfo::from_caps(caps.caps()) {
                    let mut stream = self.stream.lock().unwrap();
                    stream.width = info.width();
                    stream.height = info.height();
                }
            }
            gst::EventView::Eos(_) => self.flush(element),
            _ => {}
        }
        let seqnum = event.seqnum();
        let is_eos = matches!(event.view(), gst::EventView::Eos(_));
        let forwarded = self.stage.runtime.sink_event(element, pad, event);
        if is_eos && self.sink_mode.load(Relaxed) {
            let _ = element.post_message(
                gst::message::Eos::builder()
                    .src(element)
                    .seqnum(seqnum)
                    .build(),
            );
            return true;
        }
        forwarded || self.sink_mode.load(Relaxed)
    }

    /// Waits for the outbox to empty, up to flush-timeout; what is left is dropped
    /// and counted, with a WARNING.
    fn flush(&self, element: &gst::Element) {
        let (outbox, timeout) = match self.state.lock().unwrap().as_ref() {
            Some(running) => (running.outbox.clone(), running.flush_timeout),
            None => return,
        };
        if outbox.wait_empty(timeout) {
            return;
        }
        let (left, _) = outbox.level();
        outbox.drop_waiting();
        gst::element_warning!(
            element,
            gst::ResourceError::Write,
            (
                "{} messages were not delivered within flush-timeout ({} ms) at EOS: dropped, counted in stats' messages-dropped",
                left,
                timeout.as_millis()
            )
        );
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        let (run, settings) = self.stage.start_snapshot();
        let destination = Destination::parse(&settings)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?;
        let mut settings = settings;
        if settings.client_id.is_empty() {
            settings.client_id = format!("savantpublish-{}-{}", std::process::id(), element.name());
        }
        let has_hook = run.code.is_some();
        self.stage.runtime.start(element, run)?;
        let outbox = Arc::new(Outbox::new(
            settings.max_messages as usize,
            usize::try_from(settings.max_bytes).unwrap_or(usize::MAX),
            settings.backpressure,
        ));
        let transport = transport::open(&destination, &settings)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Failed, ("{}", e)))?;
        let sender = sender::spawn(
            element.downgrade(),
            *CAT,
            outbox.clone(),
            transport,
            destination.redacted(),
            settings.on_connect_error,
        )
        .map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Failed,
                ("cannot start the publisher thread: {}", e)
            )
        })?;
        gst::info!(
            CAT,
            obj = element,
            "publishing to {}",
            destination.redacted()
        );
        *self.stream.lock().unwrap() = Stream::default();
        *self.state.lock().unwrap() = Some(Running {
            outbox,
            sender: Some(sender),
            has_hook,
            flush_timeout: Duration::from_millis(settings.flush_timeout_ms),
        });
        let sink_mode = !self.stage.srcpad.is_linked();
        self.sink_mode.store(sink_mode, Relaxed);
        if sink_mode {
            gst::debug!(CAT, obj = element, "src pad unlinked: acting as the sink");
            element.set_element_flags(gst::ElementFlags::SINK);
        }
        Ok(())
    }

    fn stop(&self) {
        let sender = self.state.lock().unwrap().as_mut().and_then(|running| {
            running.outbox.close();
            running.sender.take()
        });
        if let Some(sender) = sender {
            let _ = sender.join();
        }
        if self.sink_mode.swap(false, Relaxed) {
            self.obj().unset_element_flags(gst::ElementFlags::SINK);
        }
    }
}

impl HasStageParts for Publish {
    type Own = Settings;

    fn stage(&self) -> &StageParts<Settings> {
        &self.stage
    }

    fn add_stats(&self, structure: &mut gst::Structure) {
        let state = self.state.lock().unwrap();
        let counters = state
            .as_ref()
            .map(|r| (&r.outbox.counters, r.outbox.level()));
        let (made, sent, dropped, retries, serialize_ns, (buffered, bytes)) = match counters {
            Some((c, level)) => (
                c.made.load(Relaxed),
                c.sent.load(Relaxed),
                c.dropped.load(Relaxed),
                c.retries.load(Relaxed),
                c.serialize_ns.load(Relaxed),
                level,
            ),
            None => (0, 0, 0, 0, 0, (0, 0)),
        };
        structure.set("messages", made);
        structure.set("messages-sent", sent);
        structure.set("messages-dropped", dropped);
        structure.set("retries", retries);
        structure.set("buffered", buffered as u64);
        structure.set("buffered-bytes", bytes as u64);
        structure.set("serialize-ns", serialize_ns);
    }
}

impl StagePads for Publish {
    fn on_buffer(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.sink_chain(buffer)
    }

    fn on_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        self.sink_event(pad, event)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for Publish {
    const NAME: &'static str = "GstSavantPublish";
    type Type = super::Publish;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        Self {
            stage: StageParts::new::<Self>(
                klass,
                DEFAULT_FUNCTION,
                StageRuntime::new(
                    *CAT,
                    "savantpublish-stats",
                    StageStats::default(),
                    FRAME_FORMATS,
                )
                .with_cuda_frames(),
            ),
            state: Mutex::new(None),
            stream: Mutex::new(Stream::default()),
            sink_mode: AtomicBool::new(false),
            warned_too_large: AtomicBool::new(false),
        }
    }
}

fn u64_property(
    name: &str,
    nick: &str,
    blurb: &str,
    default: u64,
    min: u64,
    max: u64,
) -> glib::ParamSpec {
    glib::ParamSpecUInt64::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(min)
        .maximum(max)
        .default_value(default)
        .mutable_ready()
        .build()
}

impl ObjectImpl for Publish {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            let mut properties = vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("Where messages go: a file path or file:// URL (JSON Lines), stdout, mqtt://[user:password@]host[:port] (mqtts:// for TLS), redis://[user:password@]host[:port][/db] (rediss://), nats://[user:password@]host[:port] (nats+tls://). The password never appears in logs or errors")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("topic")
                    .nick("Topic")
                    .blurb("MQTT topic, Redis stream key or NATS subject; {source_id} becomes the frame's source (characters special to the protocol as _; \"default\" without a savantmux). Unset: savant/{source_id}, savant:{source_id}, savant.{source_id}")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("username")
                    .nick("User name")
                    .blurb("User name for the broker, over the URL's. Unset: the URL's, else $SAVANT_PUBLISH_USERNAME")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("password")
                    .nick("Password")
                    .blurb("Password for the broker (write-only, never printed). Unset: the URL's, else $SAVANT_PUBLISH_PASSWORD")
                    .write_only()
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("client-id")
                    .nick("MQTT client id")
                    .blurb("MQTT client identifier. Unset: savantpublish-<pid>-<element name>")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("qos")
                    .nick("MQTT QoS")
                    .blurb("MQTT quality of service: 0 (at most once) or 1 (at least once: a message counts as sent when the broker acknowledged it)")
                    .maximum(1)
                    .default_value(u32::from(d.qos))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mqtt-version", d.mqtt_version)
                    .nick("MQTT version")
                    .blurb("MQTT protocol version")
                    .mutable_ready()
                    .build(),
                u64_property("max-len", "Redis MAXLEN", "Redis Streams: trim each stream to about this many entries (XADD MAXLEN ~); 0 = never trim", d.max_len, 0, u64::MAX),
                glib::ParamSpecUInt::builder("max-messages")
                    .nick("Most messages buffered")
                    .blurb("Most messages waiting or unconfirmed; when full, backpressure decides")
                    .minimum(1)
                    .default_value(d.max_messages)
                    .mutable_ready()
                    .build(),
                u64_property("max-bytes", "Most bytes buffered", "Most bytes of messages waiting or unconfirmed; when full, backpressure decides", d.max_bytes, 1, u64::MAX),
                glib::ParamSpecEnum::builder_with_default("backpressure", d.backpressure)
                    .nick("Backpressure")
                    .blurb("When the outgoing buffer is full: drop-oldest (the video never waits on the network; dropped messages are counted) or block (the stream waits for room)")
                    .mutable_ready()
                    .build(),
                u64_property("flush-timeout", "Flush timeout", "At EOS, wait at most this many milliseconds for buffered messages to be delivered; what is left is dropped, counted and warned of", d.flush_timeout_ms, 0, u64::MAX),
                u64_property("connect-timeout", "Connect timeout", "Milliseconds a connection attempt may take", d.connect_timeout_ms, 1, 3_600_000),
                u64_property("send-timeout", "Send timeout", "Milliseconds a batch may wait for the broker's confirmation before the connection counts as lost (a broker that accepts and never reads)", d.send_timeout_ms, 1, 3_600_000),
                glib::ParamSpecEnum::builder_with_default("on-connect-error", d.on_connect_error)
                    .nick("On connect error")
                    .blurb("When the first connection fails: error (an ERROR on the bus, the pipeline stops) or retry (a WARNING, then retries with back-off while messages buffer). Later outages always retry")
                    .mutable_ready()
                    .build(),
                u64_property("max-file-bytes", "Rotate at bytes", "JSON Lines file: start a new file (the old one renamed <location>.N) before it would grow past this many bytes; 0 = never", d.max_file_bytes, 0, u64::MAX),
                u64_property("max-file-seconds", "Rotate after seconds", "JSON Lines file: start a new file after this many seconds; 0 = never", d.max_file_seconds, 0, u64::MAX),
            ];
            properties.extend(StageSettings::properties(DEFAULT_FUNCTION, &Blurbs {
                module: "Optional Python hook that makes each frame's message: a file path or a dotted module name. Unset: the built-in schema (savant-gst.frame/1), and the GIL is never taken",
                function: "The hook, called as to_message(frame); returns a dict (the message, sent as JSON) or None (no message for this frame); the frame always goes on",
                on_error: "What an exception in the hook does: fail (ERROR, stop), skip (WARNING, no message for the frame), drop (WARNING, drop the buffer)",
                formats: "Comma-separated pixel formats the hook's frames take. Unset: every format",
                stats: PUBLISH_FIELDS,
            }));
            properties
        });
        PROPERTIES.as_ref()
    }

    stage_object_impl!();
}

impl GstObjectImpl for Publish {}

impl ElementImpl for Publish {
    element_metadata!(
        "Savant metadata publisher",
        "Filter/Metadata/Network",
        "Publishes each frame's objects and attributes as JSON to JSON Lines, MQTT, Redis Streams or NATS, off the streaming thread; a pass-through, or the sink when nothing follows it",
    );

    element_pad_templates!(pads::stage_templates(FRAME_FORMATS, true));

    element_change_state_by_lifecycle!();
}

impl Lifecycle for Publish {
    fn prepare(&self) -> Result<(), gst::ErrorMessage> {
        let (run, settings) = self.stage.snapshot();
        self.stage.runtime.prepare(self.obj().upcast_ref(), &run)?;
        Destination::parse(&settings)
            .map(|_| ())
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        Publish::start(self).inspect_err(|_| Lifecycle::stop(self))
    }

    fn stop(&self) {
        Publish::stop(self);
        self.stage.runtime.stop(self.obj().upcast_ref());
    }
}
