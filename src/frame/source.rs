//! Which source a frame came from (savantmux), and the serialized events that mark a
//! source's life in the stream: `savant-source-add` (before its first frame),
//! `savant-source-eos` (after its last), `savant-source-delete` (its pad released).
//!
//! The id travels in a custom meta (`SavantSource`, field `source-id`) with no tags,
//! so queues, tees and video filters carry it.

pub const META_NAME: &str = "SavantSource";
static META: super::custom_meta::CustomMetaKind =
    super::custom_meta::CustomMetaKind::new(META_NAME);
const FIELD: &str = "source-id";
const CAPS_FIELD: &str = "caps";
/// When the mux pushed the frame (GStreamer's monotonic clock, ns), written while
/// metrics are on: stages measure the latency from the mux.
const MUXED_FIELD: &str = "muxed-ns";

/// The most source ids an element keeps apart (savantdemux's pads, a stage's
/// announced sources): frames marked by something other than a savantmux with ids
/// that never repeat would otherwise grow them without end.
pub const MAX_SOURCES: usize = 4096;

/// The error text of an element that met more than [`MAX_SOURCES`] ids.
pub fn too_many_sources() -> String {
    format!("more than {MAX_SOURCES} source ids: frames are marked with ids that no savantmux gave")
}

pub const ADD: &str = "savant-source-add";
pub const EOS: &str = "savant-source-eos";
pub const DELETE: &str = "savant-source-delete";

pub fn register() {
    if !gst::meta::CustomMeta::is_registered(META_NAME) {
        gst::meta::CustomMeta::register(META_NAME, &[]);
    }
}

/// The frame's source id, when a savantmux marked it.
pub fn read(buffer: &gst::BufferRef) -> Option<String> {
    META.structure(buffer)?.get::<String>(FIELD).ok()
}

/// Calls `f` with the frame's source id, when a savantmux marked it, without
/// copying the id (the per-frame path of the stages).
pub fn with_id<R>(buffer: &gst::BufferRef, f: impl FnOnce(&str) -> R) -> Option<R> {
    let id = META.structure(buffer)?.get::<&str>(FIELD).ok()?;
    Some(f(id))
}

/// Whether `caps` describe frames laid out as `reference`'s: same memory (system or
/// CUDA), format, size and interlacing. Framerate, pixel-aspect-ratio, colorimetry
/// and chroma-site may differ.
pub fn same_layout(reference: &gst::CapsRef, caps: &gst::CapsRef) -> bool {
    let cuda = |caps: &gst::CapsRef| {
        caps.features(0)
            .is_some_and(|f| f.contains(crate::cuda::CAPS_FEATURE_CUDA_MEMORY))
    };
    if cuda(reference) != cuda(caps) {
        return false;
    }
    match (
        gst_video::VideoInfo::from_caps(reference),
        gst_video::VideoInfo::from_caps(caps),
    ) {
        (Ok(a), Ok(b)) => {
            a.format() == b.format()
                && a.width() == b.width()
                && a.height() == b.height()
                && a.interlace_mode() == b.interlace_mode()
        }
        _ => reference == caps,
    }
}

/// The caps of the frame's source, when a savantmux marked it (they may differ from
/// the stream's caps in fields that do not change the memory layout).
pub fn read_caps(buffer: &gst::BufferRef) -> Option<gst::Caps> {
    META.structure(buffer)?.get::<gst::Caps>(CAPS_FIELD).ok()
}

/// When the mux pushed the frame (`gst::get_timestamp`, ns), if it said.
pub fn muxed_ns(buffer: &gst::BufferRef) -> Option<u64> {
    META.structure(buffer)?.get::<u64>(MUXED_FIELD).ok()
}

/// Marks `buffer` as a frame of `source_id` with its source's caps (and the time it
/// left the mux, when given), replacing an older mark (a stream that went through
/// two muxes belongs to the last).
pub fn mark(
    buffer: &mut gst::BufferRef,
    source_id: &str,
    caps: Option<&gst::Caps>,
    muxed_ns: Option<u64>,
) {
    let mut meta = match gst::meta::CustomMeta::from_mut_buffer(buffer, META_NAME) {
        Ok(meta) => meta,
        Err(_) => match gst::meta::CustomMeta::add(buffer, META_NAME) {
            Ok(meta) => meta,
            Err(_) => return,
        },
    };
    let structure = meta.mut_structure();
    structure.set(FIELD, source_id);
    match caps {
        Some(caps) => structure.set(CAPS_FIELD, caps),
        None => structure.remove_field(CAPS_FIELD),
    }
    match muxed_ns {
        Some(ns) => structure.set(MUXED_FIELD, ns),
        None => structure.remove_field(MUXED_FIELD),
    }
}

/// One of the source events, for `source_id`.
pub fn event(name: &str, source_id: &str) -> gst::Event {
    gst::event::CustomDownstream::new(
        gst::Structure::builder(name)
            .field(FIELD, source_id)
            .build(),
    )
}

/// `savant-source-add` for `source_id`, with its source's caps when known: a demux
/// makes the source's pad with them before any frame (a stage may drop them all).
pub fn add_event(source_id: &str, caps: Option<&gst::Caps>) -> gst::Event {
    let mut structure = gst::Structure::builder(ADD).field(FIELD, source_id).build();
    if let Some(caps) = caps {
        structure.set(CAPS_FIELD, caps);
    }
    gst::event::CustomDownstream::new(structure)
}

/// The source caps a source event carries (`add_event`).
pub fn event_caps(event: &gst::EventRef) -> Option<gst::Caps> {
    event.structure()?.get::<gst::Caps>(CAPS_FIELD).ok()
}

/// `savant-source-eos` of the last source to end: the real EOS follows at once.
/// savantdemux then leaves that source's pad to the real EOS, so that the stages
/// between mux and demux see EOS (on_eos) before the pipeline's sinks all have.
pub fn last_eos_event(source_id: &str) -> gst::Event {
    gst::event::CustomDownstream::new(
        gst::Structure::builder(EOS)
            .field(FIELD, source_id)
            .field("last", true)
            .build(),
    )
}

/// Whether a source event is the last source's end (see last_eos_event).
pub fn is_last(event: &gst::EventRef) -> bool {
    event
        .structure()
        .and_then(|s| s.get::<bool>("last").ok())
        .unwrap_or(false)
}

/// (event name, source id) of a source event.
pub fn parse(event: &gst::EventRef) -> Option<(&'static str, String)> {
    if event.type_() != gst::EventType::CustomDownstream {
        return None;
    }
    let structure = event.structure()?;
    let name = [ADD, EOS, DELETE]
        .into_iter()
        .find(|n| structure.name() == *n)?;
    Some((name, structure.get::<String>(FIELD).ok()?))
}
