//! `savantmodule`: a bin built from a Savant module YAML. The config is applied when
//! the property is set (so gst-launch can link the bin's pads right away); a bad
//! config fails the NULL -> READY change with an ERROR naming the YAML path.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::config::ConfigError;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantmodule",
        gst::DebugColorFlags::empty(),
        Some("Savant module YAML as a bin"),
    )
});

#[derive(Default)]
struct State {
    config: Option<String>,
    error: Option<ConfigError>,
    /// Savant settings the config sets and this module does not apply.
    ignored: Vec<&'static str>,
}

#[derive(Default)]
pub struct SavantModule {
    state: Mutex<State>,
}

impl SavantModule {
    fn apply_config(&self, config: Option<String>) {
        let obj = self.obj();
        for child in obj.children() {
            let _ = child.set_state(gst::State::Null);
            let _ = obj.remove(&child);
        }
        let built = config
            .as_deref()
            .map(|config| super::build::build_into(obj.upcast_ref(), config));
        let (ignored, error) = match built {
            Some(Ok(ignored)) => (ignored, None),
            Some(Err(error)) => (Vec::new(), Some(error)),
            None => (Vec::new(), None),
        };
        if let Some(error) = &error {
            // This module may be an entry of another being built right now.
            super::build::report_to_enclosing(error);
        }
        match &error {
            Some(e) => gst::warning!(CAT, imp = self, "invalid module config: {e}"),
            None => gst::debug!(CAT, imp = self, "built {} elements", obj.children().len()),
        }
        let mut state = self.state.lock().unwrap();
        state.config = config;
        state.error = error;
        state.ignored = ignored;
    }
}

#[glib::object_subclass]
impl ObjectSubclass for SavantModule {
    const NAME: &'static str = "GstSavantModule";
    type Type = super::SavantModule;
    type ParentType = gst::Bin;
}

impl ObjectImpl for SavantModule {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecString::builder("config")
                .nick("Config")
                .blurb("Savant module YAML (a file path or the YAML itself): parameters.buffer_queues and pipeline.elements (pyfunc, draw_func, any GStreamer element)")
                .mutable_ready()
                .build()]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "config" => self.apply_config(value.get().unwrap()),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "config" => self.state.lock().unwrap().config.to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        for (name, direction) in [
            ("sink", gst::PadDirection::Sink),
            ("src", gst::PadDirection::Src),
        ] {
            let templ = obj.pad_template(name).unwrap();
            let pad = gst::GhostPad::builder_from_template(&templ)
                .name(name)
                .build();
            debug_assert_eq!(pad.direction(), direction);
            obj.add_pad(&pad).unwrap();
        }
    }
}

impl GstObjectImpl for SavantModule {}

impl ElementImpl for SavantModule {
    element_metadata!(
        "Savant module",
        "Generic/Bin",
        "Python stages and GStreamer elements from a Savant module YAML, with Savant's buffer_queues",
    );

    element_pad_templates!(crate::stage::pads::any_templates());

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady {
            let state = self.state.lock().unwrap();
            let problem = match (&state.config, &state.error) {
                (None, _) => Some("the `config` property is not set".to_owned()),
                (_, Some(error)) => Some(format!("invalid module config: {error}")),
                _ => None,
            };
            let ignored = state.ignored.join(", ");
            drop(state);
            if let Some(problem) = problem {
                gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", problem));
                return Err(gst::StateChangeError);
            }
            if !ignored.is_empty() {
                // One WARNING for all of them, each start.
                gst::element_imp_warning!(
                    self,
                    gst::LibraryError::Settings,
                    (
                        "{} set in the module YAML: Savant settings this plugin reads \
                         but does not apply (README: savantmodule)",
                        ignored
                    )
                );
            }
        }
        self.parent_change_state(transition)
    }
}

impl BinImpl for SavantModule {}
