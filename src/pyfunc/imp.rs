//! `savantpyfunc` implementation.
//!
//! A plain element with a chain function (not a BaseTransform): it owns each buffer,
//! maps it read-only unless `writable`, and only makes the buffer header writable
//! (never the pixels) when Python changed its attributes.
//!
//! Locks: `settings` and `state` are never held while taking the GIL, and `stop`
//! takes the state out of its mutex before it takes the GIL: a streaming thread may
//! hold the GIL while it waits for `state`.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyBool;

use crate::frame::layout::FrameLayout;
use crate::frame::{attributes, CapsInfo, Frame, FrameChanges};
use crate::python::stage::{Hooks, StageConfig, StageError};
use crate::python::stats::StageStats;
use crate::python::{gil_probe, interpreter, thread_state};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantpyfunc",
        gst::DebugColorFlags::empty(),
        Some("Savant Python function stage"),
    )
});

/// What to do when user code raises (or returns something that is not a verdict).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantOnError")]
pub enum OnError {
    #[default]
    #[enum_value(name = "Post an ERROR on the bus and stop the stream", nick = "fail")]
    Fail,
    #[enum_value(
        name = "Post a WARNING with the traceback and pass the buffer on unchanged",
        nick = "skip"
    )]
    Skip,
    #[enum_value(
        name = "Post a WARNING with the traceback and drop the buffer",
        nick = "drop"
    )]
    Drop,
}

const DEFAULT_FUNCTION: &str = "process_frame";
const DEFAULT_WRITABLE: bool = false;
const DEFAULT_ON_ERROR: OnError = OnError::Fail;
const DEFAULT_STATS_INTERVAL_MS: u32 = 0;

#[derive(Debug, Clone)]
struct Settings {
    module: Option<String>,
    class_name: Option<String>,
    function: String,
    kwargs: Option<String>,
    writable: bool,
    on_error: OnError,
    stats_interval_ms: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            module: None,
            class_name: None,
            function: DEFAULT_FUNCTION.to_owned(),
            kwargs: None,
            writable: DEFAULT_WRITABLE,
            on_error: DEFAULT_ON_ERROR,
            stats_interval_ms: DEFAULT_STATS_INTERVAL_MS,
        }
    }
}

/// Runtime data between `start` and `stop`.
struct State {
    hooks: Arc<Hooks>,
    layout: Option<FrameLayout>,
    writable: bool,
    on_error: OnError,
    stats_interval_ms: u32,
    last_stats_post: Option<Instant>,
}

/// What became of one frame.
enum Verdict {
    /// Pass it on, with what Python changed on it.
    Pass(FrameChanges),
    Drop,
    Failed(StageError),
}

pub struct PyFunc {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    pub(super) stats: StageStats,
}

impl PyFunc {
    // The per-buffer path: snapshot state, map, one GIL acquisition, push.
    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        mut buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (hooks, layout, writable, on_error, stats_interval_ms) = {
            let state = self.state.lock().unwrap();
            let Some(state) = state.as_ref() else {
                return Err(gst::FlowError::Flushing);
            };
            let Some(layout) = state.layout else {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("received a buffer before caps")
                );
                return Err(gst::FlowError::NotNegotiated);
            };
            (
                state.hooks.clone(),
                layout,
                state.writable,
                state.on_error,
                state.stats_interval_ms,
            )
        };

        if writable {
            // Copies only when the buffer is shared (after a tee, or kept by Python).
            buffer.make_mut();
        }
        let frame = Frame::new(&buffer, layout, writable);
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
                return Err(gst::FlowError::Error);
            }
        };

        gst::log!(
            CAT,
            imp = self,
            "calling {} for {:?}",
            hooks.process_name,
            buffer.pts()
        );
        let calls = &self.stats.calls;
        let ((verdict, python_ns), gil_wait_ns) = thread_state::attach(move |py| {
            let started = Instant::now();
            calls.enter();
            let verdict = call_process(py, &hooks, frame);
            calls.leave();
            drop(hooks);
            (verdict, started.elapsed().as_nanos() as u64)
        });
        self.stats.record_call(python_ns, gil_wait_ns);
        if stats_interval_ms > 0 {
            self.maybe_post_periodic_stats(stats_interval_ms);
        }

        match verdict {
            Verdict::Pass(changes) => {
                changes.apply(&mut buffer);
                self.srcpad.push(buffer)
            }
            Verdict::Drop => {
                gst::log!(
                    CAT,
                    imp = self,
                    "dropping {:?} as Python asked",
                    buffer.pts()
                );
                self.stats
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            }
            Verdict::Failed(error) => match self.on_hook_error(&error, on_error) {
                OnError::Fail => Err(gst::FlowError::Error),
                OnError::Skip => self.srcpad.push(buffer),
                OnError::Drop => {
                    self.stats
                        .dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok(gst::FlowSuccess::Ok)
                }
            },
        }
    }

    // Serialized and non-serialized events: Python sees them, then they go on.
    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let (hooks, on_error) = {
            let state = self.state.lock().unwrap();
            match state.as_ref() {
                Some(state) => (Some(state.hooks.clone()), state.on_error),
                None => (None, DEFAULT_ON_ERROR),
            }
        };
        let Some(hooks) = hooks else {
            return gst::Pad::event_default(pad, Some(&*self.obj()), event);
        };

        let mut caps_info = None;
        if let gst::EventView::Caps(caps) = event.view() {
            let caps = caps.caps();
            let info = match gst_video::VideoInfo::from_caps(caps) {
                Ok(info) => info,
                Err(_) => {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Negotiation,
                        ("caps {} are not raw video", caps)
                    );
                    return false;
                }
            };
            gst::debug!(CAT, imp = self, "caps {caps}");
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.layout = Some(FrameLayout::from_info(&info));
            }
            caps_info = Some(CapsInfo::new(&info, caps));
        }
        let is_eos = matches!(event.view(), gst::EventView::Eos(_));

        let wants_python = hooks.on_event.is_some()
            || (caps_info.is_some() && hooks.on_caps.is_some())
            || (is_eos && hooks.on_eos.is_some());
        if wants_python {
            let event_name = event.type_().name();
            let failure = thread_state::attach(|py| -> Result<(), StageError> {
                if let Some(on_event) = &hooks.on_event {
                    let structure = attributes::to_py_dict(py, event.structure())
                        .map_err(|e| StageError::python(py, "on_event", &e))?;
                    gst::log!(CAT, imp = self, "calling on_event({event_name})");
                    call_hook(
                        py,
                        &hooks,
                        "on_event",
                        on_event,
                        (event_name.as_str(), structure),
                    )?;
                }
                if let (Some(on_caps), Some(info)) = (&hooks.on_caps, caps_info) {
                    gst::log!(CAT, imp = self, "calling on_caps");
                    let info =
                        Bound::new(py, info).map_err(|e| StageError::python(py, "on_caps", &e))?;
                    call_hook(py, &hooks, "on_caps", on_caps, (info,))?;
                }
                if let (true, Some(on_eos)) = (is_eos, &hooks.on_eos) {
                    gst::log!(CAT, imp = self, "calling on_eos");
                    call_hook(py, &hooks, "on_eos", on_eos, ())?;
                }
                Ok(())
            })
            .0
            .err();
            // Events are never dropped: skip and drop both let the event go on.
            if let Some(error) = failure {
                if self.on_hook_error(&error, on_error) == OnError::Fail {
                    return false;
                }
            }
        }
        if is_eos {
            self.post_stats();
            gst::info!(
                CAT,
                imp = self,
                "{}{}",
                self.stats.summary(),
                self.upstream_queue_summary()
            );
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn post_stats(&self) {
        let obj = self.obj();
        let structure = self.stats.to_structure("savantpyfunc-stats");
        let _ = obj.post_message(gst::message::Element::builder(structure).src(&*obj).build());
    }

    fn maybe_post_periodic_stats(&self, interval_ms: u32) {
        let now = Instant::now();
        {
            let mut state = self.state.lock().unwrap();
            let Some(state) = state.as_mut() else { return };
            if state
                .last_stats_post
                .is_some_and(|t| now.duration_since(t).as_millis() < interval_ms as u128)
            {
                return;
            }
            state.last_stats_post = Some(now);
        }
        self.post_stats();
    }

    /// ", queue ahead: max N of M buffers" when a savantqueue feeds this stage.
    fn upstream_queue_summary(&self) -> String {
        let queue = self
            .sinkpad
            .peer()
            .and_then(|pad| pad.parent_element())
            .filter(|element| element.is::<crate::queue::SavantQueue>());
        let Some(queue) = queue else {
            return String::new();
        };
        let stats = queue.property::<gst::Structure>("stats");
        format!(
            "; queue ahead ({}) held at most {} of {} buffers",
            queue.name(),
            stats.get::<u64>("max-level-buffers").unwrap_or(0),
            stats.get::<u32>("length").unwrap_or(0)
        )
    }

    /// Posts the error or warning for a failed hook and counts it; returns the policy.
    fn on_hook_error(&self, error: &StageError, on_error: OnError) -> OnError {
        self.stats
            .errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let traceback = error.traceback.as_deref().unwrap_or("");
        match on_error {
            OnError::Fail => {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Failed,
                    ("{}", error.message),
                    ["{}", traceback]
                );
            }
            OnError::Skip | OnError::Drop => {
                gst::warning!(CAT, imp = self, "{}\n{}", error.message, traceback);
                gst::element_imp_warning!(
                    self,
                    gst::LibraryError::Failed,
                    (
                        "{} (on-error={})",
                        error.message,
                        if on_error == OnError::Skip {
                            "skip"
                        } else {
                            "drop"
                        }
                    ),
                    ["{}", traceback]
                );
            }
        }
        on_error
    }

    // Loads the user's code and runs on_start; READY -> PAUSED.
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let config = StageConfig {
            module: settings.module.clone().unwrap_or_default(),
            class_name: settings.class_name.clone(),
            function: settings.function.clone(),
            kwargs: settings.kwargs.clone().unwrap_or_default(),
        };
        interpreter::ensure_initialized().map_err(|e| {
            gst::error_msg!(gst::LibraryError::Init, ("cannot start Python: {}", e))
        })?;
        gst::debug!(CAT, imp = self, "loading {config:?}");
        let (loaded, _) = thread_state::attach(|py| -> Result<Hooks, StageError> {
            let hooks = Hooks::load(py, &config)?;
            if let Some(on_start) = &hooks.on_start {
                gst::log!(CAT, imp = self, "calling on_start");
                let verdict = call_hook(py, &hooks, "on_start", on_start, ())?;
                if verdict.is(PyBool::new(py, false)) {
                    return Err(StageError::plain(format!(
                        "module {}: on_start() returned False",
                        hooks.module_name
                    )));
                }
            }
            Ok(hooks)
        });
        let hooks = loaded.map_err(|e| {
            gst::error_msg!(
                gst::LibraryError::Init,
                ("{}", e.message),
                ["{}", e.traceback.as_deref().unwrap_or("")]
            )
        })?;
        gst::debug!(CAT, imp = self, "started {}", hooks.module_name);
        self.stats.reset();
        gil_probe::register(&self.stats.calls);
        *self.state.lock().unwrap() = Some(State {
            hooks: Arc::new(hooks),
            layout: None,
            writable: settings.writable,
            on_error: settings.on_error,
            stats_interval_ms: settings.stats_interval_ms,
            last_stats_post: None,
        });
        Ok(())
    }

    // Runs on_stop and releases the user's objects; PAUSED -> READY.
    fn stop(&self) {
        let Some(state) = self.state.lock().unwrap().take() else {
            return;
        };
        gil_probe::unregister(&self.stats.calls);
        thread_state::attach(|py| {
            if let Some(on_stop) = &state.hooks.on_stop {
                gst::log!(CAT, imp = self, "calling on_stop");
                if let Err(error) = call_hook(py, &state.hooks, "on_stop", on_stop, ()) {
                    self.on_hook_error(&error, OnError::Skip);
                }
            }
            // No Py_Finalize ever runs in a GStreamer process, so atexit never flushes.
            flush_std_streams(py);
            drop(state);
        });
        gst::debug!(CAT, imp = self, "stopped");
    }
}

fn call_process(py: Python<'_>, hooks: &Hooks, frame: Frame) -> Verdict {
    let frame = match Bound::new(py, frame) {
        Ok(frame) => frame,
        Err(e) => return Verdict::Failed(StageError::python(py, "creating the frame", &e)),
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
            if result.is_none() || result.is(PyBool::new(py, true)) {
                match frame.get().changes(py) {
                    Ok(changes) => Verdict::Pass(changes),
                    Err(e) => Verdict::Failed(StageError::python(
                        py,
                        format!("module {}: frame changes", hooks.module_name),
                        &e,
                    )),
                }
            } else if result.is(PyBool::new(py, false)) {
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
    // Unmaps now unless Python kept the frame or a view of it.
    drop(frame);
    verdict
}

fn call_hook<'py>(
    py: Python<'py>,
    hooks: &Hooks,
    name: &str,
    hook: &Py<PyAny>,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> Result<Bound<'py, PyAny>, StageError> {
    hook.bind(py).call1(args).map_err(|e| {
        StageError::python(
            py,
            format!("module {}: {name}() raised", hooks.module_name),
            &e,
        )
    })
}

fn flush_std_streams(py: Python<'_>) {
    if let Ok(sys) = py.import("sys") {
        for stream in ["stdout", "stderr"] {
            if let Ok(stream) = sys.getattr(stream) {
                let _ = stream.call_method0("flush");
            }
        }
    }
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
            .flags(
                gst::PadFlags::PROXY_CAPS
                    | gst::PadFlags::PROXY_ALLOCATION
                    | gst::PadFlags::PROXY_SCHEDULING,
            )
            .build();
        let templ = klass.pad_template("src").unwrap();
        let srcpad = gst::Pad::builder_from_template(&templ)
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
            state: Mutex::new(None),
            stats: StageStats::default(),
        }
    }
}

impl ObjectImpl for PyFunc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("module")
                    .nick("Module")
                    .blurb("Python module: a file path (examples/ball.py) or a dotted name on sys.path (pkg.mod)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("class-name")
                    .nick("Class name")
                    .blurb("Class in the module, instantiated with kwargs; its methods are the hooks. Unset: `function` is a module-level function")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("function")
                    .nick("Function")
                    .blurb("Per-frame callable: a method of class-name, or a module-level function; it gets the frame and returns None/True (pass) or False (drop)")
                    .default_value(Some(DEFAULT_FUNCTION))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("kwargs")
                    .nick("Keyword arguments")
                    .blurb("YAML or JSON mapping passed to the class constructor as keyword arguments")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("writable")
                    .nick("Writable")
                    .blurb("Map frames read-write so Python may modify pixels in place (copies the buffer when it is shared); false maps read-only and never copies")
                    .default_value(DEFAULT_WRITABLE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("on-error", DEFAULT_ON_ERROR)
                    .nick("On error")
                    .blurb("What an exception in user code does: fail (ERROR, stop), skip (WARNING, pass the buffer), drop (WARNING, drop the buffer)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("stats-interval")
                    .nick("Statistics interval")
                    .blurb("Post the stats as an element message every this many milliseconds (they are always posted at EOS); 0 = only at EOS")
                    .default_value(DEFAULT_STATS_INTERVAL_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("frames, dropped, errors, python-ns(-max) in Python, gil-wait-ns(-max) waiting for the GIL, wall-ns from first to last call, gil-free-samples of gil-samples (GIL released during a call), verdict on queues")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = self.settings.lock().unwrap();
        match pspec.name() {
            "module" => settings.module = value.get().unwrap(),
            "class-name" => settings.class_name = value.get().unwrap(),
            "function" => {
                settings.function = value
                    .get::<Option<String>>()
                    .unwrap()
                    .filter(|f| !f.is_empty())
                    .unwrap_or_else(|| DEFAULT_FUNCTION.to_owned())
            }
            "kwargs" => settings.kwargs = value.get().unwrap(),
            "writable" => settings.writable = value.get().unwrap(),
            "stats-interval" => settings.stats_interval_ms = value.get().unwrap(),
            "on-error" => {
                settings.on_error = value.get().unwrap();
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.on_error = settings.on_error;
                }
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        match pspec.name() {
            "module" => settings.module.to_value(),
            "class-name" => settings.class_name.to_value(),
            "function" => settings.function.to_value(),
            "kwargs" => settings.kwargs.to_value(),
            "writable" => settings.writable.to_value(),
            "stats-interval" => settings.stats_interval_ms.to_value(),
            "on-error" => settings.on_error.to_value(),
            "stats" => self.stats.to_structure("savantpyfunc-stats").to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
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
            let caps = gst::Caps::builder("video/x-raw").build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            if let Err(message) = self.start() {
                self.post_error_message(message);
                return Err(gst::StateChangeError);
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
