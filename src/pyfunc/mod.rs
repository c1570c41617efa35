//! `savantpyfunc`: calls a user Python class or function for every video buffer.

use gst::glib;
use gst::prelude::*;

mod batch;
mod imp;
mod protocol;
mod workers;

pub use crate::stage::policy::OnError;

glib::wrapper! {
    pub struct PyFunc(ObjectSubclass<imp::PyFunc>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Its properties' enums are documented with the element (gst-inspect, the plugin
    // docs); savantdrawfunc shares the ones the stage settings define.
    for enum_type in [
        OnError::static_type(),
        crate::stage::caps::FrameMemory::static_type(),
        crate::frame::readonly_check::VerifyReadonly::static_type(),
        imp::Instances::static_type(),
    ] {
        enum_type.mark_as_plugin_api(gst::PluginAPIFlags::empty());
    }
    gst::Element::register(
        Some(plugin),
        "savantpyfunc",
        gst::Rank::NONE,
        PyFunc::static_type(),
    )
}
