//! `savantdrawfunc`: draws objects per a draw spec in Rust, plus a Python draw hook.

use gst::glib;
use gst::prelude::*;

mod imp;
mod spec_bridge;

glib::wrapper! {
    pub struct DrawFunc(ObjectSubclass<imp::DrawFunc>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "savantdrawfunc",
        gst::Rank::NONE,
        DrawFunc::static_type(),
    )
}
