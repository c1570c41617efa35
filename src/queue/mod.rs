//! `savantqueue`: the bounded queue ahead of a Python stage (Savant's
//! `buffer_queues`), so each stage runs on its own streaming thread.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct SavantQueue(ObjectSubclass<imp::SavantQueue>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "savantqueue",
        gst::Rank::NONE,
        SavantQueue::static_type(),
    )
}
