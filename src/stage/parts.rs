//! What every Python stage element (savantpyfunc, savantdrawfunc, savantpublish)
//! holds: its two pads, its settings and its runtime, made and wired in one place so
//! each element's `ObjectSubclass`, `constructed` and property functions say only
//! what is its own. An element says where its parts are ([`HasStageParts`]); the
//! pad functions ([`StagePads`]), the lifecycle's prepare (`Lifecycle`) and the
//! `ObjectImpl` functions that only hand over (`stage_object_impl!`) come from there.

use std::sync::Mutex;

use gst::glib;
use gst::prelude::*;

use super::pads::{stage_pads, StagePads};
use super::runtime::{RunSettings, StageRuntime};
use super::settings::{ElementSettings, OwnProperties};

/// An element made of [`StageParts`].
pub trait HasStageParts {
    /// The element's own settings, beside the code settings.
    type Own: Default + Clone + OwnProperties;

    fn stage(&self) -> &StageParts<Self::Own>;

    /// Adds the element's own fields to its `stats` (the runtime's are there).
    fn add_stats(&self, _stats: &mut gst::Structure) {}
}

/// `ObjectImpl::property` of a stage element: `stats` from the runtime and
/// [`HasStageParts::add_stats`], the rest from the settings.
pub fn property<T: HasStageParts>(element: &T, pspec: &glib::ParamSpec) -> glib::Value {
    match pspec.name() {
        "stats" => {
            let mut stats = element.stage().runtime.stats_structure();
            element.add_stats(&mut stats);
            stats.to_value()
        }
        _ => element.stage().property(pspec),
    }
}

/// A Python stage element's pads, settings and runtime. Lock order: `settings`,
/// then the runtime's (see [`StageRuntime`]).
pub struct StageParts<O> {
    pub sinkpad: gst::Pad,
    pub srcpad: gst::Pad,
    /// The code settings and the element's own (`O`).
    pub settings: Mutex<ElementSettings<O>>,
    pub runtime: StageRuntime,
}

impl<O: Default + Clone + OwnProperties> StageParts<O> {
    /// The parts of a `T` element: its pads from its class's templates, default
    /// settings calling `default_function`, and `runtime`.
    pub fn new<T>(
        klass: &glib::Class<T::Type>,
        default_function: &'static str,
        runtime: StageRuntime,
    ) -> Self
    where
        T: StagePads,
        T::Type: glib::object::IsClass,
    {
        let [sinkpad, srcpad] = stage_pads::<T>(klass);
        Self {
            sinkpad,
            srcpad,
            settings: Mutex::new(ElementSettings::new(default_function)),
            runtime,
        }
    }

    /// One reading of the settings: what the runtime's prepare and start take, and
    /// the element's own.
    pub fn snapshot(&self) -> (RunSettings, O) {
        let settings = self.settings.lock().unwrap();
        (
            settings.code.run_settings(O::CODE_REQUIRED),
            settings.own.clone(),
        )
    }

    /// At start: the frame checks' settings handed to the runtime's stats, and
    /// [`snapshot`](Self::snapshot) from the same reading.
    pub fn start_snapshot(&self) -> (RunSettings, O) {
        let settings = self.settings.lock().unwrap();
        settings.code.configure_checks(&self.runtime.stats);
        (
            settings.code.run_settings(O::CODE_REQUIRED),
            settings.own.clone(),
        )
    }

    /// Adds the pads to `element` and makes the runtime its own (from `constructed`).
    pub fn attach_to(&self, element: &gst::Element) {
        self.runtime
            .attach_to(element, [&self.sinkpad, &self.srcpad]);
    }

    /// `set_property` of the element's settings (the runtime applies `on-error` to
    /// a running stage at once).
    pub fn set_property(&self, pspec: &glib::ParamSpec, value: &glib::Value) {
        self.runtime
            .set_property(&self.settings, pspec.name(), value);
    }

    /// `property` of the element's settings (`stats` is answered by [`property`]).
    pub fn property(&self, pspec: &glib::ParamSpec) -> glib::Value {
        self.runtime.property(&self.settings, pspec.name())
    }
}
