//! `savantpyfunc`: calls a user Python class or function for every video buffer.

use gst::glib;
use gst::prelude::*;

mod imp;
mod workers;

pub use crate::python::runtime::OnError;

glib::wrapper! {
    pub struct PyFunc(ObjectSubclass<imp::PyFunc>) @extends gst::Element, gst::Object;
}

impl PyFunc {
    /// The stage's live counters, for a savantqueue deciding whether to hand over.
    pub(crate) fn stage_stats(&self) -> &crate::python::stats::StageStats {
        use gst::subclass::prelude::ObjectSubclassIsExt;
        &self.imp().runtime.stats
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "savantpyfunc",
        gst::Rank::NONE,
        PyFunc::static_type(),
    )
}
