//! Pad templates shared by the one-in, one-out elements (savantpyfunc,
//! savantdrawfunc, savantqueue, savantmodule, savantpublish), and the pads of the
//! Python stages: below the elements, so no element imports from the crate root.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::parts::HasStageParts;

/// What a one-in, one-out stage does on its pads; [`stage_pads`] makes them.
pub trait StagePads: ElementImpl + HasStageParts {
    /// Flags of both pads.
    const FLAGS: gst::PadFlags = gst::PadFlags::PROXY_CAPS.union(gst::PadFlags::PROXY_ALLOCATION);

    /// A buffer on the sink pad.
    fn on_buffer(
        &self,
        pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError>;

    /// An event on the sink pad (the src pad's go upstream as they are): the
    /// runtime's handling unless the stage has its own.
    fn on_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        self.stage()
            .runtime
            .sink_event(self.obj().upcast_ref(), pad, event)
    }

    /// A query on either pad (`pad.direction()` says which): the runtime's answer
    /// unless the stage has its own.
    fn on_query(
        &self,
        pad: &gst::Pad,
        parent: Option<&gst::Object>,
        query: &mut gst::QueryRef,
    ) -> bool {
        self.stage().runtime.pad_query(pad, parent, query)
    }
}

/// The `sink` and `src` pads of a stage, from its class's templates, each function
/// behind gst-rs's panic guard (a panic is an error on the bus, the pad then
/// refuses).
///
/// # Panics
///
/// The class has no `sink` or `src` template ([`stage_templates`] makes both).
pub fn stage_pads<T>(klass: &glib::Class<T::Type>) -> [gst::Pad; 2]
where
    T: StagePads,
    T::Type: glib::object::IsClass,
{
    let sink = &klass.pad_template("sink").expect("a stage's sink template");
    let src = &klass.pad_template("src").expect("a stage's src template");
    let query = |pad: &gst::Pad, parent: Option<&gst::Object>, query: &mut gst::QueryRef| {
        T::catch_panic_pad_function(parent, || false, |this| this.on_query(pad, parent, query))
    };
    let sinkpad = gst::Pad::builder_from_template(sink)
        .chain_function(|pad, parent, buffer| {
            T::catch_panic_pad_function(
                parent,
                || Err(gst::FlowError::Error),
                |this| this.on_buffer(pad, buffer),
            )
        })
        .event_function(|pad, parent, event| {
            T::catch_panic_pad_function(parent, || false, |this| this.on_event(pad, event))
        })
        .query_function(query)
        .flags(T::FLAGS)
        .build();
    let srcpad = gst::Pad::builder_from_template(src)
        .query_function(query)
        .flags(T::FLAGS)
        .build();
    [sinkpad, srcpad]
}

/// The templates of a Python stage that takes `formats` (in CUDA memory too when
/// `cuda`).
pub fn stage_templates(formats: &[&str], cuda: bool) -> Vec<gst::PadTemplate> {
    let memories = super::caps::Memories { system: true, cuda };
    sink_and_src_templates(&super::caps::formats_caps(formats, memories))
}

/// The `sink` and `src` templates of an element that takes anything (savantqueue,
/// savantmodule).
pub fn any_templates() -> Vec<gst::PadTemplate> {
    sink_and_src_templates(&gst::Caps::new_any())
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
