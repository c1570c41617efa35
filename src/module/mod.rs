//! Savant module YAML: `savantmodule config=module.yml` and the same builder as a
//! Rust API (`build_bin`).

use gst::glib;
use gst::prelude::*;

mod build;
pub mod config;
mod imp;
mod interpolate;
mod reframe;

pub use build::build_bin;
pub use config::{ConfigError, ModuleConfig, QueueSpec};

glib::wrapper! {
    pub struct SavantModule(ObjectSubclass<imp::SavantModule>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

pub(crate) fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "savantmodule",
        gst::Rank::NONE,
        SavantModule::static_type(),
    )
}
