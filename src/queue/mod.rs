//! `savantqueue`: the bounded queue ahead of a Python stage (Savant's
//! `buffer_queues`), so each stage runs on its own streaming thread.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct SavantQueue(ObjectSubclass<imp::SavantQueue>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // A property's enum is documented with the element (gst-inspect, the plugin docs).
    imp::QueueMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "savantqueue",
        gst::Rank::NONE,
        SavantQueue::static_type(),
    )
}
