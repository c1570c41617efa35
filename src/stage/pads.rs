//! Pad templates shared by the one-in, one-out elements (savantpyfunc,
//! savantdrawfunc, savantqueue, savantmodule): below the elements, so no element
//! imports from the crate root.

/// The templates of a Python stage that takes `formats` (in CUDA memory too when
/// `cuda`).
pub fn stage_templates(formats: &[&str], cuda: bool) -> Vec<gst::PadTemplate> {
    let memories = super::caps::Memories { system: true, cuda };
    sink_and_src_templates(&super::caps::formats_caps(formats, memories))
}

/// The always-present `sink` and `src` pad templates of a one-in, one-out element.
pub fn sink_and_src_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("src", gst::PadDirection::Src),
        ("sink", gst::PadDirection::Sink),
    ]
    .into_iter()
    .map(|(name, direction)| {
        gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps)
            .expect("valid pad template")
    })
    .collect()
}
