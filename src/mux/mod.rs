//! `savantmux`: frames of many sources through one pipeline, each frame marked with
//! its source id (frame/source.rs), each source's end a serialized event of its own.

use gst::glib;
use gst::prelude::*;

mod imp;
mod pad;

glib::wrapper! {
    pub struct SavantMux(ObjectSubclass<imp::SavantMux>) @extends gst_base::Aggregator, gst::Element, gst::Object, @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "savantmux",
        gst::Rank::NONE,
        SavantMux::static_type(),
    )
}
