//! `savantpyfunc`: calls a user Python class or function for every video buffer.

use gst::glib;
use gst::prelude::*;

mod batch;
mod imp;
mod workers;

pub use crate::stage::runtime::OnError;

glib::wrapper! {
    pub struct PyFunc(ObjectSubclass<imp::PyFunc>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "savantpyfunc",
        gst::Rank::NONE,
        PyFunc::static_type(),
    )
}
