//! The properties every Python stage element has: where the user's code is, what its
//! errors do, statistics and dev-mode.

use gst::glib;
use gst::prelude::*;

use super::caps::FrameMemory;
use super::policy::OnError;
use super::runtime::RunSettings;
use super::stats::StageStats;
use crate::frame::held::{DEFAULT_MAX_BYTES, DEFAULT_MAX_FRAMES};
use crate::frame::readonly_check::VerifyReadonly;
use crate::python::loader::StageConfig;

/// A Python stage element's settings: the code settings every stage has, and the
/// element's own properties. The element's `set_property` and `property` go through
/// [`StageRuntime::set_property`](super::runtime::StageRuntime::set_property) and
/// [`StageRuntime::property`](super::runtime::StageRuntime::property), which try the
/// code settings first, so that part is written once.
#[derive(Debug, Clone)]
pub struct ElementSettings<O> {
    pub code: StageSettings,
    pub own: O,
}

impl<O: Default> ElementSettings<O> {
    /// The defaults, calling `default_function` when no function is set.
    pub fn new(default_function: &'static str) -> Self {
        Self {
            code: StageSettings::new(default_function),
            own: O::default(),
        }
    }
}

/// An element's own properties (not the code settings, nor `stats`), by name.
pub trait OwnProperties {
    /// Whether the element needs user code (savantpyfunc) or runs without
    /// (savantdrawfunc draws its spec, savantpublish writes its schema).
    const CODE_REQUIRED: bool = false;

    fn set(&mut self, name: &str, value: &glib::Value);
    fn get(&self, name: &str) -> glib::Value;
}

/// What an element's blurbs say about its code (the rest is common).
pub struct Blurbs {
    pub module: &'static str,
    pub function: &'static str,
    pub on_error: &'static str,
    /// Fields the element adds to the shared stats (`stats::FIELDS`).
    pub stats: &'static [(&'static str, &'static str)],
    pub formats: &'static str,
}

#[derive(Debug, Clone)]
pub struct StageSettings {
    pub module: Option<String>,
    pub class_name: Option<String>,
    pub function: String,
    pub kwargs: Option<String>,
    pub on_error: OnError,
    pub stats_interval_ms: u32,
    pub dev_mode: bool,
    /// The `formats` property, as set.
    pub formats: Option<String>,
    pub verify_readonly: VerifyReadonly,
    pub max_frames_held: u64,
    pub max_bytes_held: u64,
    default_function: &'static str,
}

impl StageSettings {
    pub fn new(default_function: &'static str) -> Self {
        Self {
            module: None,
            class_name: None,
            function: default_function.to_owned(),
            kwargs: None,
            on_error: OnError::Fail,
            stats_interval_ms: 0,
            dev_mode: false,
            formats: None,
            verify_readonly: VerifyReadonly::Sampled,
            max_frames_held: DEFAULT_MAX_FRAMES,
            max_bytes_held: DEFAULT_MAX_BYTES,
            default_function,
        }
    }

    pub fn properties(default_function: &'static str, blurbs: &Blurbs) -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecString::builder("module")
                .nick("Module")
                .blurb(blurbs.module)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("class-name")
                .nick("Class name")
                .blurb("Class in the module, instantiated with kwargs; its methods are the hooks. Unset: `function` is a module-level function")
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("function")
                .nick("Function")
                .blurb(blurbs.function)
                .default_value(Some(default_function))
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("kwargs")
                .nick("Keyword arguments")
                .blurb("YAML or JSON mapping passed to the class constructor as keyword arguments")
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("on-error", OnError::Fail)
                .nick("On error")
                .blurb(blurbs.on_error)
                .mutable_playing()
                .build(),
            glib::ParamSpecBoolean::builder("dev-mode")
                .nick("Development mode")
                .blurb("Reload the module when its file (or a sibling file it imported) changes, at the next frame; if the new code fails, the last good code keeps running and a WARNING shows the traceback")
                .default_value(false)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("stats-interval")
                .nick("Statistics interval")
                .blurb("Post the stats as an element message every this many milliseconds (they are always posted at EOS); 0 = only at EOS")
                .default_value(0)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("formats")
                .nick("Formats")
                .blurb(blurbs.formats)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("verify-readonly", VerifyReadonly::Sampled)
                .nick("Verify read-only")
                .blurb("Check that Python did not write into a read-only frame (OpenCV ignores numpy's read-only flag, and the buffer may be shared by a tee): hash the planes Python mapped before and after the call. sampled: the first 16 frames after start and reload, then one in 64, or fewer so that checks cost at most 1% of the stage's time; every-frame; off. A write is handled per on-error; stats: readonly-checks, readonly-check-period")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("max-frames-held")
                .nick("Max frames held")
                .blurb("WARNING when Python keeps more than this many frames (or planes or array views of them) after its calls returned; each pins its whole buffer. stats: frames-held. 0 = no limit")
                .default_value(DEFAULT_MAX_FRAMES)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("max-bytes-held")
                .nick("Max bytes held")
                .blurb("WARNING when the buffers of frames Python keeps after its calls returned, together with frames waiting for their batch (batch-size x frame size at most), pass this many bytes. stats: bytes-held, batch-bytes. 0 = no limit")
                .default_value(DEFAULT_MAX_BYTES)
                .mutable_ready()
                .build(),
            glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                .nick("Statistics")
                .blurb(&super::stats::blurb(blurbs.stats))
                .read_only()
                .build(),
        ]
    }

    /// Sets `name` if it is one of these settings; false if it is not.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        match name {
            "module" => self.module = value.get().unwrap(),
            "class-name" => self.class_name = value.get().unwrap(),
            "function" => {
                self.function = value
                    .get::<Option<String>>()
                    .unwrap()
                    .filter(|f| !f.is_empty())
                    .unwrap_or_else(|| self.default_function.to_owned())
            }
            "kwargs" => self.kwargs = value.get().unwrap(),
            "on-error" => self.on_error = value.get().unwrap(),
            "dev-mode" => self.dev_mode = value.get().unwrap(),
            "stats-interval" => self.stats_interval_ms = value.get().unwrap(),
            "formats" => self.formats = value.get().unwrap(),
            "verify-readonly" => self.verify_readonly = value.get().unwrap(),
            "max-frames-held" => self.max_frames_held = value.get().unwrap(),
            "max-bytes-held" => self.max_bytes_held = value.get().unwrap(),
            _ => return false,
        }
        true
    }

    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "module" => self.module.to_value(),
            "class-name" => self.class_name.to_value(),
            "function" => self.function.to_value(),
            "kwargs" => self.kwargs.to_value(),
            "on-error" => self.on_error.to_value(),
            "dev-mode" => self.dev_mode.to_value(),
            "stats-interval" => self.stats_interval_ms.to_value(),
            "formats" => self.formats.to_value(),
            "verify-readonly" => self.verify_readonly.to_value(),
            "max-frames-held" => self.max_frames_held.to_value(),
            "max-bytes-held" => self.max_bytes_held.to_value(),
            _ => return None,
        })
    }

    /// Hands the frame checks' settings to the stage's counters, at start.
    pub fn configure_checks(&self, stats: &StageStats) {
        stats.readonly.set_mode(self.verify_readonly);
        stats
            .held
            .set_limits(self.max_frames_held, self.max_bytes_held);
    }

    /// For the runtime's start. With `module_required` an unset module is kept (and
    /// reported by the loader); otherwise it means "no user code".
    pub fn run_settings(&self, module_required: bool) -> RunSettings {
        let module = self
            .module
            .clone()
            .filter(|m| module_required || !m.is_empty());
        let code = match (module, module_required) {
            (Some(module), _) => Some(module),
            (None, true) => Some(String::new()),
            (None, false) => None,
        }
        .map(|module| StageConfig {
            module,
            class_name: self.class_name.clone(),
            function: self.function.clone(),
            kwargs: self.kwargs.clone().unwrap_or_default(),
            stage: String::new(),
        });
        RunSettings {
            code,
            on_error: self.on_error,
            stats_interval_ms: self.stats_interval_ms,
            dev_mode: self.dev_mode,
            instances: 1,
            formats: self.formats.clone().filter(|f| !f.trim().is_empty()),
            memory: FrameMemory::Auto,
        }
    }
}
