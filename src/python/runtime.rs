//! What every Python stage element shares (savantpyfunc, savantdrawfunc): loading
//! and starting the user's code, event hooks, caps, the on-error policy, statistics
//! and their messages, stopping.
//!
//! Lock order: the runtime's state mutex is never held while taking the GIL, and
//! `stop` takes the state out of it before taking the GIL: a streaming thread may
//! hold the GIL while it waits for the state.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyBool;

use super::reload::Watch;
use super::stage::{Hooks, StageConfig, StageError};
use super::stats::StageStats;
use super::{gil_probe, interpreter, thread_state};
use crate::frame::layout::FrameLayout;
use crate::frame::{attributes, CapsInfo};

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

/// Per-run settings the runtime needs from its element's properties.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// None: no user code (savantdrawfunc drawing from its spec alone).
    pub code: Option<StageConfig>,
    pub on_error: OnError,
    pub stats_interval_ms: u32,
    /// Reload the code when its files change (dev-mode).
    pub dev_mode: bool,
}

/// What the streaming thread needs for one buffer.
pub struct Snapshot {
    pub hooks: Option<Arc<Hooks>>,
    pub caps: Arc<NegotiatedCaps>,
    pub on_error: OnError,
    pub stats_interval_ms: u32,
}

/// What the current caps mean for frames; shared by reference with each buffer.
pub struct NegotiatedCaps {
    pub layout: FrameLayout,
    pub info: gst_video::VideoInfo,
}

struct State {
    hooks: Option<Arc<Hooks>>,
    caps: Option<Arc<NegotiatedCaps>>,
    on_error: OnError,
    stats_interval_ms: u32,
    last_stats_post: Option<Instant>,
    /// dev-mode: what to reload from, and the files to watch.
    dev: Option<(StageConfig, Watch)>,
}

pub struct StageRuntime {
    cat: gst::DebugCategory,
    stats_name: &'static str,
    pub stats: StageStats,
    state: Mutex<Option<State>>,
    /// Cheap per-frame check before looking at files.
    dev_mode: AtomicBool,
}

impl StageRuntime {
    pub fn new(cat: gst::DebugCategory, stats_name: &'static str, stats: StageStats) -> Self {
        Self {
            cat,
            stats_name,
            stats,
            state: Mutex::new(None),
            dev_mode: AtomicBool::new(false),
        }
    }

    /// Loads one instance of the user's code (from `sibling`'s module when given,
    /// else importing it) and runs its on_start.
    pub fn load_instance(
        &self,
        element: &gst::Element,
        config: &StageConfig,
        sibling: Option<&Hooks>,
    ) -> Result<Hooks, StageError> {
        let cat = self.cat;
        interpreter::ensure_initialized()
            .map_err(|e| StageError::plain(format!("cannot start Python: {e}")))?;
        gst::debug!(cat, obj = element, "loading {config:?}");
        let (loaded, _) = thread_state::attach(|py| -> Result<Hooks, StageError> {
            let hooks = match sibling {
                Some(sibling) => sibling.another(py, config)?,
                None => Hooks::load(py, config)?,
            };
            if let Some(on_start) = &hooks.on_start {
                gst::log!(cat, obj = element, "calling on_start");
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
        let hooks = loaded?;
        gst::debug!(cat, obj = element, "started {}", hooks.module_name);
        Ok(hooks)
    }

    /// Loads the user's code (if any) and runs on_start; READY -> PAUSED.
    pub fn start(
        &self,
        element: &gst::Element,
        settings: RunSettings,
    ) -> Result<(), gst::ErrorMessage> {
        let hooks = match &settings.code {
            None => None,
            Some(config) => Some(Arc::new(
                self.load_instance(element, config, None)
                    .map_err(StageError::into_error_message)?,
            )),
        };
        let dev = match (&settings.code, &hooks, settings.dev_mode) {
            (Some(config), Some(hooks), true) => {
                let watch = thread_state::attach(|py| Watch::collect(py, hooks)).0;
                gst::info!(
                    self.cat,
                    obj = element,
                    "dev-mode: watching {:?}",
                    watch.files().collect::<Vec<_>>()
                );
                Some((config.clone(), watch))
            }
            _ => None,
        };
        self.dev_mode.store(dev.is_some(), Relaxed);
        self.stats.reset();
        if hooks.is_some() {
            gil_probe::register(&self.stats.calls);
        }
        *self.state.lock().unwrap() = Some(State {
            hooks,
            caps: None,
            on_error: settings.on_error,
            stats_interval_ms: settings.stats_interval_ms,
            last_stats_post: None,
            dev,
        });
        Ok(())
    }

    /// dev-mode, at a frame boundary: when a watched file changed, re-imports the
    /// module, builds a new instance with the same kwargs and runs its on_start. If
    /// that fails, the last good code keeps running and a WARNING carries the
    /// traceback; the next save is tried again.
    pub fn maybe_reload(&self, element: &gst::Element) {
        if !self.dev_mode.load(Relaxed) {
            return;
        }
        let (config, watch) = {
            let state = self.state.lock().unwrap();
            match state.as_ref().and_then(|s| s.dev.as_ref()) {
                Some((config, watch)) if watch.changed() => (config.clone(), watch.clone()),
                _ => return,
            }
        };
        gst::info!(
            self.cat,
            obj = element,
            "dev-mode: {} changed, reloading",
            config.module
        );
        let (reloaded, _) = thread_state::attach(|py| {
            watch.evict(py);
            self.load_instance(element, &config, None).map(|hooks| {
                let watch = Watch::collect(py, &hooks);
                (hooks, watch)
            })
        });
        // The state's lock is released before anything takes the GIL again.
        let replaced = {
            let mut state = self.state.lock().unwrap();
            let Some(state) = state.as_mut() else { return };
            match reloaded {
                Ok((hooks, watch)) => {
                    state.dev = Some((config, watch));
                    Ok(state.hooks.replace(Arc::new(hooks)))
                }
                Err(error) => {
                    if let Some((_, watch)) = state.dev.as_mut() {
                        watch.refresh();
                    }
                    Err(error)
                }
            }
        };
        match replaced {
            Ok(old) => {
                gst::info!(self.cat, obj = element, "dev-mode: reloaded");
                self.stats.code_reloaded();
                if let Some(old) = old {
                    self.stop_instance(element, old);
                }
            }
            Err(error) => {
                self.stats.errors.fetch_add(1, Relaxed);
                gst::element_warning!(
                    element,
                    gst::LibraryError::Failed,
                    (
                        "dev-mode: reloading failed, the last good code keeps running: {}",
                        error.message
                    ),
                    ["{}", error.traceback.as_deref().unwrap_or("")]
                );
            }
        }
    }

    /// Runs on_stop and releases the user's objects; PAUSED -> READY.
    pub fn stop(&self, element: &gst::Element) {
        let Some(state) = self.state.lock().unwrap().take() else {
            return;
        };
        gil_probe::unregister(&self.stats.calls);
        if let Some(hooks) = state.hooks {
            self.stop_instance(element, hooks);
        }
        gst::debug!(self.cat, obj = element, "stopped");
    }

    /// Runs an instance's on_stop and releases it (with the GIL).
    pub fn stop_instance(&self, element: &gst::Element, hooks: Arc<Hooks>) {
        thread_state::attach(|py| {
            if let Some(on_stop) = &hooks.on_stop {
                gst::log!(self.cat, obj = element, "calling on_stop");
                if let Err(error) = call_hook(py, &hooks, "on_stop", on_stop, ()) {
                    self.on_hook_error(element, &error, OnError::Skip);
                }
            }
            // No Py_Finalize ever runs in a GStreamer process, so atexit never flushes.
            flush_std_streams(py);
            drop(hooks);
        });
    }

    /// The running instance of the user's code, if any.
    pub fn hooks(&self) -> Option<Arc<Hooks>> {
        self.state.lock().unwrap().as_ref()?.hooks.clone()
    }

    pub fn set_on_error(&self, on_error: OnError) {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.on_error = on_error;
        }
    }

    /// The per-buffer view of the state; Flushing when stopped, NotNegotiated (with
    /// an ERROR) before caps.
    pub fn snapshot(&self, element: &gst::Element) -> Result<Snapshot, gst::FlowError> {
        let snapshot = {
            let state = self.state.lock().unwrap();
            let Some(state) = state.as_ref() else {
                return Err(gst::FlowError::Flushing);
            };
            state.caps.clone().map(|caps| Snapshot {
                hooks: state.hooks.clone(),
                caps,
                on_error: state.on_error,
                stats_interval_ms: state.stats_interval_ms,
            })
        };
        snapshot.ok_or_else(|| {
            gst::element_error!(
                element,
                gst::CoreError::Negotiation,
                ("received a buffer before caps")
            );
            gst::FlowError::NotNegotiated
        })
    }

    /// Handles a sink event: caps, Python's event hooks, stats at EOS; forwards it.
    pub fn sink_event(&self, element: &gst::Element, pad: &gst::Pad, event: gst::Event) -> bool {
        let cat = self.cat;
        let (hooks, on_error) = match self.state.lock().unwrap().as_ref() {
            Some(state) => (state.hooks.clone(), state.on_error),
            None => (None, OnError::Fail),
        };

        let mut caps_info = None;
        if let gst::EventView::Caps(caps) = event.view() {
            let caps = caps.caps();
            let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
                gst::element_error!(
                    element,
                    gst::CoreError::Negotiation,
                    ("caps {} are not raw video", caps)
                );
                return false;
            };
            gst::debug!(cat, obj = element, "caps {caps}");
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.caps = Some(Arc::new(NegotiatedCaps {
                    layout: FrameLayout::from_info(&info),
                    info: info.clone(),
                }));
            }
            caps_info = Some(CapsInfo::new(&info, caps));
        }
        let is_eos = matches!(event.view(), gst::EventView::Eos(_));

        if let Some(hooks) = hooks {
            let wants_python = hooks.on_event.is_some()
                || (caps_info.is_some() && hooks.on_caps.is_some())
                || (is_eos && hooks.on_eos.is_some());
            if wants_python {
                let failure = thread_state::attach(|py| {
                    call_event_hooks(py, cat, element, &hooks, &event, caps_info, is_eos)
                })
                .0
                .err();
                // Events are never dropped: skip and drop both let the event go on.
                if let Some(error) = failure {
                    if self.on_hook_error(element, &error, on_error) == OnError::Fail {
                        return false;
                    }
                }
            }
        }
        if is_eos {
            self.post_stats(element);
            gst::info!(
                cat,
                obj = element,
                "{}{}",
                self.stats.summary(),
                upstream_queue_summary(pad)
            );
        }
        gst::Pad::event_default(pad, Some(element), event)
    }

    /// Posts the error or warning for a failed hook and counts it; returns the policy.
    pub fn on_hook_error(
        &self,
        element: &gst::Element,
        error: &StageError,
        on_error: OnError,
    ) -> OnError {
        self.stats.errors.fetch_add(1, Relaxed);
        let traceback = error.traceback.as_deref().unwrap_or("");
        match on_error {
            OnError::Fail => {
                gst::element_error!(
                    element,
                    gst::LibraryError::Failed,
                    ("{}", error.message),
                    ["{}", traceback]
                );
            }
            OnError::Skip | OnError::Drop => {
                let policy = if on_error == OnError::Skip {
                    "skip"
                } else {
                    "drop"
                };
                gst::warning!(self.cat, obj = element, "{}\n{}", error.message, traceback);
                gst::element_warning!(
                    element,
                    gst::LibraryError::Failed,
                    ("{} (on-error={})", error.message, policy),
                    ["{}", traceback]
                );
            }
        }
        on_error
    }

    pub fn stats_structure(&self) -> gst::Structure {
        self.stats.to_structure(self.stats_name)
    }

    pub fn post_stats(&self, element: &gst::Element) {
        let structure = self.stats.to_structure(self.stats_name);
        let _ = element.post_message(
            gst::message::Element::builder(structure)
                .src(element)
                .build(),
        );
    }

    /// Posts the stats when `stats-interval` has passed since the last post.
    pub fn maybe_post_periodic_stats(&self, element: &gst::Element, interval_ms: u32) {
        if interval_ms == 0 {
            return;
        }
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
        self.post_stats(element);
    }
}

fn call_event_hooks(
    py: Python<'_>,
    cat: gst::DebugCategory,
    element: &gst::Element,
    hooks: &Hooks,
    event: &gst::Event,
    caps_info: Option<CapsInfo>,
    is_eos: bool,
) -> Result<(), StageError> {
    if let Some(on_event) = &hooks.on_event {
        let name = event.type_().name();
        let structure = attributes::to_py_dict(py, event.structure())
            .map_err(|e| StageError::python(py, "on_event", &e))?;
        gst::log!(cat, obj = element, "calling on_event({name})");
        call_hook(py, hooks, "on_event", on_event, (name.as_str(), structure))?;
    }
    if let (Some(on_caps), Some(info)) = (&hooks.on_caps, caps_info) {
        gst::log!(cat, obj = element, "calling on_caps");
        let info = Bound::new(py, info).map_err(|e| StageError::python(py, "on_caps", &e))?;
        call_hook(py, hooks, "on_caps", on_caps, (info,))?;
    }
    if let (true, Some(on_eos)) = (is_eos, &hooks.on_eos) {
        gst::log!(cat, obj = element, "calling on_eos");
        call_hook(py, hooks, "on_eos", on_eos, ())?;
    }
    Ok(())
}

/// "; queue ahead (q) held at most N of M buffers" when a savantqueue feeds `sinkpad`.
fn upstream_queue_summary(sinkpad: &gst::Pad) -> String {
    let queue = sinkpad
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

pub fn call_hook<'py>(
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
