//! `savantdemux`: splits a savantmux stream back into one src pad per source.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct SavantDemux(ObjectSubclass<imp::SavantDemux>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "savantdemux",
        gst::Rank::NONE,
        SavantDemux::static_type(),
    )
}
