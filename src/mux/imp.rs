//! savantmux: request sink pads `sink_%u`, one src pad.
//!
//! Each sink pad's upstream thread pushes its own frames (no thread of ours, no
//! queueing): frames leave in arrival order. Per frame: the source's
//! `savant-source-add` event before its first frame, the `SavantSource` meta, and
//! pts/dts turned into the running time of the source's own segment, so the one
//! TIME segment downstream (start 0) holds every source and a `sync=true` sink
//! plays each source at its own pace. A source's EOS becomes `savant-source-eos`;
//! the real EOS goes out when every source has ended. Caps: every source must have
//! the caps of the first (a stage negotiates one layout, in one memory: system or
//! CUDA); others are refused with an ERROR naming the pad and both caps.
//!
//! Flushes: one seek flushes every source, each at its own moment. Downstream gets
//! one FLUSH_START (the first) and one FLUSH_STOP (when no source is flushing any
//! more); a source that finished its flush waits (`flushed`) until then, since a
//! push into a flushing downstream would pause its source for good. A flushing seek
//! marks every source flushing before it goes upstream, and a source that refuses
//! the seek is unmarked.
//!
//! Lock order: `output` (serializes everything pushed on the src pad, so a source's
//! event and its frame are never split by another source's), then `state`. Flush
//! starts take neither, so a push blocked downstream is released by the flush; no
//! thread waits on `flushed` while holding `output`.

use std::collections::HashMap;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::pad::MuxSinkPad;
use crate::frame::source;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantmux",
        gst::DebugColorFlags::empty(),
        Some("gst-savant many-source mux"),
    )
});

#[derive(Default)]
struct Source {
    /// Fixed at the first frame (the pad's source-id then).
    id: Option<String>,
    ended: bool,
    /// Between its FLUSH_START (or a flushing seek sent to it) and its FLUSH_STOP.
    flushing: bool,
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
}

#[derive(Default)]
struct State {
    /// By pad name.
    sources: HashMap<String, Source>,
    caps: Option<gst::Caps>,
    /// The pad whose caps were taken.
    caps_pad: Option<String>,
    stream_started: bool,
    segment_sent: bool,
    eos_sent: bool,
    /// A FLUSH_START went downstream and its FLUSH_STOP did not yet.
    downstream_flushing: bool,
    /// Counts the FLUSH_STARTs sent downstream: a push that came back FLUSHING
    /// because of another source's flush lost its frame to that flush, nothing more.
    flushes: u64,
    next_pad: u32,
}

impl State {
    fn any_flushing(&self) -> bool {
        self.sources.values().any(|s| s.flushing)
    }
}

pub struct SavantMux {
    srcpad: gst::Pad,
    output: Mutex<()>,
    state: Mutex<State>,
    /// Signalled when downstream's flush ends (with `state`).
    flushed: Condvar,
}

#[glib::object_subclass]
impl ObjectSubclass for SavantMux {
    const NAME: &'static str = "GstSavantMux";
    type Type = super::SavantMux;
    type ParentType = gst::Element;
    type Interfaces = (gst::ChildProxy,);

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("src").unwrap();
        let srcpad = gst::Pad::builder_from_template(&templ)
            .query_function(|pad, parent, query| {
                SavantMux::catch_panic_pad_function(
                    parent,
                    || false,
                    |mux| mux.src_query(pad, query),
                )
            })
            .event_function(|pad, parent, event| {
                SavantMux::catch_panic_pad_function(
                    parent,
                    || false,
                    |mux| mux.src_event(pad, event),
                )
            })
            .build();
        Self {
            srcpad,
            output: Mutex::new(()),
            state: Mutex::new(State::default()),
            flushed: Condvar::new(),
        }
    }
}

impl ObjectImpl for SavantMux {
    fn constructed(&self) {
        self.parent_constructed();
        self.obj().add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for SavantMux {}

/// The sink pads are children, so `sink_0::source-id=cam-a` works in gst-launch.
impl ChildProxyImpl for SavantMux {
    fn child_by_index(&self, index: u32) -> Option<glib::Object> {
        self.obj()
            .sink_pads()
            .into_iter()
            .nth(index as usize)
            .map(|p| p.upcast())
    }

    fn child_by_name(&self, name: &str) -> Option<glib::Object> {
        self.obj().static_pad(name).map(|p| p.upcast())
    }

    fn children_count(&self) -> u32 {
        self.obj().num_sink_pads() as u32
    }
}

impl ElementImpl for SavantMux {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Savant source mux",
                "Generic/Video",
                "Frames of many sources through one pipeline: each frame carries its \
                 source id (frame.source_id), each source's end is a serialized \
                 savant-source-eos event; EOS when every source has ended",
                "gst-savant developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // Frames pass through untouched, so CUDA frames too (a GPU decoder per
            // source, one CUDA stage for all).
            let caps = crate::cuda::raw_video_caps();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .unwrap(),
                gst::PadTemplate::with_gtype(
                    "sink_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &caps,
                    MuxSinkPad::static_type(),
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let name = {
            let mut state = self.state.lock().unwrap();
            let name = match name {
                Some(n) => n.to_owned(),
                None => loop {
                    let n = format!("sink_{}", state.next_pad);
                    state.next_pad += 1;
                    if !state.sources.contains_key(&n) {
                        break n;
                    }
                },
            };
            if state.sources.contains_key(&name) {
                gst::error!(CAT, imp = self, "pad {name} exists");
                return None;
            }
            state.sources.insert(name.clone(), Source::default());
            // Requesting a pad after the end (a new source) reopens the stream.
            state.eos_sent = false;
            name
        };
        let pad = gst::PadBuilder::<MuxSinkPad>::from_template(templ)
            .name(name.as_str())
            .chain_function(|pad, parent, buffer| {
                SavantMux::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |mux| mux.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                SavantMux::catch_panic_pad_function(
                    parent,
                    || false,
                    |mux| mux.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                SavantMux::catch_panic_pad_function(
                    parent,
                    || false,
                    |mux| mux.sink_query(pad, query),
                )
            })
            .build();
        if self.obj().current_state() > gst::State::Ready {
            let _ = pad.set_active(true);
        }
        self.obj().add_pad(&pad).ok()?;
        // gst-launch's `m. sink_0::source-id=...` is set when the pad appears.
        self.obj()
            .child_added(pad.upcast_ref::<glib::Object>(), &pad.name());
        Some(pad.upcast())
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let name = pad.name().to_string();
        {
            let _output = self.output.lock().unwrap();
            let (id, ended, all_ended) = {
                let mut state = self.state.lock().unwrap();
                let source = state.sources.remove(&name).unwrap_or_default();
                // Releasing the last pad ends the stream too.
                let any_source = source.id.is_some() || !state.sources.is_empty();
                let all_ended =
                    any_source && state.sources.values().all(|s| s.ended) && !state.eos_sent;
                if all_ended {
                    state.eos_sent = true;
                }
                (source.id, source.ended, all_ended)
            };
            if let Some(id) = id {
                if !ended {
                    self.srcpad.push_event(source::event(source::EOS, &id));
                }
                self.srcpad.push_event(source::event(source::DELETE, &id));
            }
            if all_ended {
                self.srcpad.push_event(gst::event::Eos::new());
            }
        }
        let _ = pad.set_active(false);
        let _ = self.obj().remove_pad(pad);
        self.obj()
            .child_removed(pad.upcast_ref::<glib::Object>(), &name);
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            let mut state = self.state.lock().unwrap();
            state.stream_started = false;
            state.segment_sent = false;
            state.eos_sent = false;
            state.downstream_flushing = false;
            state.caps = None;
            state.caps_pad = None;
            // A new run: every source is announced again (new instances of the
            // stages downstream), with the pad's source-id of now.
            for source in state.sources.values_mut() {
                source.id = None;
                source.ended = false;
                source.flushing = false;
                source.segment = None;
            }
        }
        let result = self.parent_change_state(transition);
        // Pads are inactive now: a source waiting for downstream's flush sees it.
        self.flushed.notify_all();
        result
    }
}

impl SavantMux {
    /// Stream-start, once, and with `segment` the output segment (after the caps:
    /// sticky events go stream-start, caps, segment); under `output`.
    fn start_output(&self, segment: bool) {
        let (stream_start, segment) = {
            let mut state = self.state.lock().unwrap();
            let s = (!state.stream_started, segment && !state.segment_sent);
            state.stream_started = true;
            state.segment_sent |= segment;
            s
        };
        if stream_start {
            // The output mixes streams: a stream id of its own (GStreamer's
            // create_stream_id needs one upstream stream).
            let id = format!(
                "savantmux-{:08x}{:08x}",
                glib::random_int(),
                glib::random_int()
            );
            self.srcpad
                .push_event(gst::event::StreamStart::builder(id.as_str()).build());
        }
        if segment {
            let segment = gst::FormattedSegment::<gst::ClockTime>::new();
            self.srcpad.push_event(gst::event::Segment::new(&segment));
        }
    }

    fn sink_chain(
        &self,
        pad: &MuxSinkPad,
        mut buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let name = pad.name().to_string();
        // A source gets FLUSHING only when it is flushing itself: a source paused by
        // FLUSHING restarts only with its own flush's FLUSH_STOP.
        let (_output, mut state) = loop {
            self.wait_for_downstream_flush(pad)?;
            let output = self.output.lock().unwrap();
            let state = self.state.lock().unwrap();
            if !state.downstream_flushing {
                break (output, state);
            }
        };
        let (id, first, segment, flushes) = {
            if state.caps.is_none() {
                drop(state);
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("{name}: a frame arrived before caps")
                );
                return Err(gst::FlowError::NotNegotiated);
            }
            if state.sources.get(&name).is_some_and(|s| s.ended) {
                return Err(gst::FlowError::Eos);
            }
            let (id, first) = match self.source_id(&mut state, pad) {
                Ok(id) => id,
                Err(message) => {
                    drop(state);
                    gst::element_imp_error!(self, gst::StreamError::Failed, ("{message}"));
                    return Err(gst::FlowError::Error);
                }
            };
            let segment = state.sources.get(&name).and_then(|s| s.segment.clone());
            (id, first, segment, state.flushes)
        };
        drop(state);
        self.start_output(true);
        if first {
            gst::debug!(CAT, obj = pad, "source '{id}' starts");
            self.srcpad.push_event(source::event(source::ADD, &id));
        }
        {
            let buffer = buffer.make_mut();
            if let Some(segment) = &segment {
                // The source's running time: one output segment holds every source.
                let pts = buffer.pts().and_then(|t| segment.to_running_time(t));
                let dts = buffer.dts().and_then(|t| segment.to_running_time(t));
                buffer.set_pts(pts);
                buffer.set_dts(dts);
            }
            source::mark(buffer, &id);
        }
        match self.srcpad.push(buffer) {
            // Another source's flush discarded the frame, as it discards every frame
            // in flight; this source goes on.
            Err(gst::FlowError::Flushing)
                if !pad.pad_flags().contains(gst::PadFlags::FLUSHING) && {
                    let state = self.state.lock().unwrap();
                    state.downstream_flushing || state.flushes != flushes
                } =>
            {
                Ok(gst::FlowSuccess::Ok)
            }
            flow => flow,
        }
    }

    /// The source's id, fixed at its first frame (or its end, without frames):
    /// (id, whether this is the first time). An id another pad's source already has
    /// is refused: its frames could not be told apart.
    fn source_id(&self, state: &mut State, pad: &MuxSinkPad) -> Result<(String, bool), String> {
        let name = pad.name().to_string();
        if let Some(id) = state.sources.get(&name).and_then(|s| s.id.clone()) {
            return Ok((id, false));
        }
        let id = pad.source_id();
        if let Some((other, _)) = state
            .sources
            .iter()
            .find(|(n, s)| **n != name && s.id.as_deref() == Some(id.as_str()))
        {
            return Err(format!(
                "{name}: source-id '{id}' is already the id of {other}'s source; every \
                 source of a savantmux needs an id of its own"
            ));
        }
        let source = state.sources.get_mut(&name).ok_or("the pad was released")?;
        source.id = Some(id.clone());
        Ok((id, true))
    }

    /// A source whose flush is over waits until every source's is, so that its
    /// frames are not pushed into a flushing downstream.
    /// A source outside the seek (one that refused it) waits the same way.
    fn wait_for_downstream_flush(&self, pad: &MuxSinkPad) -> Result<(), gst::FlowError> {
        let mut state = self.state.lock().unwrap();
        loop {
            // Its own FLUSH_START (the seek reached it) or deactivation.
            if pad.pad_flags().contains(gst::PadFlags::FLUSHING) {
                return Err(gst::FlowError::Flushing);
            }
            if !state.downstream_flushing {
                return Ok(());
            }
            // The timeout only re-checks the pad's flag (deactivation).
            state = self
                .flushed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    }

    /// Ends downstream's flush when no source is flushing any more; under `output`.
    fn finish_flush(&self, stop: gst::Event) -> bool {
        let done = {
            let mut state = self.state.lock().unwrap();
            if state.downstream_flushing && !state.any_flushing() {
                state.downstream_flushing = false;
                state.segment_sent = false;
                state.eos_sent = false;
                true
            } else {
                false
            }
        };
        let forwarded = !done || self.srcpad.push_event(stop);
        self.flushed.notify_all();
        forwarded
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let gst::EventView::Seek(seek) = event.view() else {
            return gst::Pad::event_default(pad, Some(&*self.obj()), event);
        };
        if !seek.get().1.contains(gst::SeekFlags::FLUSH) {
            return gst::Pad::event_default(pad, Some(&*self.obj()), event);
        }
        let pads = self.obj().sink_pads();
        {
            let mut state = self.state.lock().unwrap();
            for source in state.sources.values_mut() {
                source.flushing = true;
            }
        }
        let mut any = false;
        for sinkpad in &pads {
            let ok = sinkpad.push_event(event.clone());
            any |= ok;
            if !ok {
                let mut state = self.state.lock().unwrap();
                if let Some(source) = state.sources.get_mut(sinkpad.name().as_str()) {
                    source.flushing = false;
                }
            }
        }
        // Sources that refused the seek no longer hold downstream's flush. Only
        // then is `output` taken: after a seek that every source took, a source
        // may hold it while its push waits for the sinks to preroll, which waits
        // for this thread (it holds the pipeline's state lock while seeking).
        let stop_pending = {
            let state = self.state.lock().unwrap();
            state.downstream_flushing && !state.any_flushing()
        };
        if !stop_pending {
            return any;
        }
        let _output = self.output.lock().unwrap();
        self.finish_flush(
            gst::event::FlushStop::builder(true)
                .seqnum(event.seqnum())
                .build(),
        );
        any
    }

    fn sink_event(&self, pad: &MuxSinkPad, event: gst::Event) -> bool {
        use gst::EventView;
        let name = pad.name().to_string();
        match event.view() {
            EventView::FlushStart(_) => {
                let first = {
                    let mut state = self.state.lock().unwrap();
                    if let Some(source) = state.sources.get_mut(&name) {
                        source.flushing = true;
                    }
                    let first = !std::mem::replace(&mut state.downstream_flushing, true);
                    if first {
                        state.flushes += 1;
                    }
                    first
                };
                self.flushed.notify_all();
                !first || self.srcpad.push_event(event)
            }
            EventView::FlushStop(_) => {
                let _output = self.output.lock().unwrap();
                {
                    let mut state = self.state.lock().unwrap();
                    if let Some(source) = state.sources.get_mut(&name) {
                        source.ended = false;
                        source.flushing = false;
                    }
                }
                self.finish_flush(event)
            }
            EventView::StreamStart(_) | EventView::Tag(_) | EventView::Gap(_) => true,
            EventView::Caps(c) => {
                let caps = c.caps_owned();
                let _output = self.output.lock().unwrap();
                let mut state = self.state.lock().unwrap();
                match &state.caps {
                    None => {
                        // Many sources make one variable-rate stream: the output's
                        // framerate is 0/1 whatever the first source's is.
                        let mut output = caps.clone();
                        if let Some(s) = output.make_mut().structure_mut(0) {
                            s.set("framerate", gst::Fraction::new(0, 1));
                        }
                        state.caps = Some(output.clone());
                        state.caps_pad = Some(name);
                        drop(state);
                        self.start_output(false);
                        self.srcpad.push_event(gst::event::Caps::new(&output))
                    }
                    Some(current) if same_frames(current, &caps) => true,
                    Some(current) => {
                        let (current, other) = (current.clone(), state.caps_pad.clone());
                        drop(state);
                        gst::element_imp_error!(
                            self,
                            gst::CoreError::Negotiation,
                            (
                                "{name}: caps {caps} differ from {current} (of {}); every \
                                 source of a savantmux needs the same memory (system or \
                                 CUDA), format, size and interlacing (framerates may \
                                 differ): put videoconvert ! videoscale ! capsfilter \
                                 (cudaupload or cudadownload for the memory) ahead of it",
                                other.unwrap_or_default()
                            )
                        );
                        false
                    }
                }
            }
            EventView::Segment(s) => {
                let Ok(segment) = s.segment().clone().downcast::<gst::ClockTime>() else {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ("{name}: only TIME segments can be muxed")
                    );
                    return false;
                };
                if let Some(source) = self.state.lock().unwrap().sources.get_mut(&name) {
                    source.segment = Some(segment);
                }
                true
            }
            EventView::Eos(_) => {
                let _output = self.output.lock().unwrap();
                let (id, first, all_ended) = {
                    let mut state = self.state.lock().unwrap();
                    if state.sources.get(&name).is_none_or(|s| s.ended) {
                        return true;
                    }
                    // A source without a single frame is announced and ended all
                    // the same: a demux downstream makes and ends its pad.
                    let (id, first) = match self.source_id(&mut state, pad) {
                        Ok(id) => id,
                        Err(message) => {
                            drop(state);
                            gst::element_imp_error!(self, gst::StreamError::Failed, ("{message}"));
                            return false;
                        }
                    };
                    if let Some(source) = state.sources.get_mut(&name) {
                        source.ended = true;
                    }
                    let all_ended = state.sources.values().all(|s| s.ended) && !state.eos_sent;
                    if all_ended {
                        state.eos_sent = true;
                    }
                    (Some(id), first, all_ended)
                };
                if first {
                    self.start_output(false);
                    if let Some(id) = &id {
                        self.srcpad.push_event(source::event(source::ADD, id));
                    }
                }
                if let Some(id) = id {
                    gst::debug!(CAT, obj = pad, "source '{id}' ended");
                    self.srcpad.push_event(if all_ended {
                        source::last_eos_event(&id)
                    } else {
                        source::event(source::EOS, &id)
                    });
                }
                if all_ended {
                    self.start_output(true);
                    self.srcpad.push_event(gst::event::Eos::new());
                }
                true
            }
            _ if event.is_serialized() => {
                let _output = self.output.lock().unwrap();
                self.srcpad.push_event(event)
            }
            _ => self.srcpad.push_event(event),
        }
    }

    fn sink_query(&self, pad: &MuxSinkPad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Caps(q) = query.view_mut() {
            // Once a source fixed the caps, the others are offered those first, so a
            // flexible source picks them; a source that cannot gets as far as its
            // caps event, which is refused with an ERROR naming both caps (rather
            // than a bare not-negotiated from upstream).
            let filter = q.filter().map(|f| f.to_owned());
            let downstream = self.srcpad.peer_query_caps(filter.as_ref());
            let fixed = self.state.lock().unwrap().caps.clone();
            let caps = match fixed {
                Some(mut caps) => {
                    // Any framerate will do (see same_frames).
                    if let Some(s) = caps.make_mut().structure_mut(0) {
                        s.remove_field("framerate");
                    }
                    caps.merge(downstream);
                    caps
                }
                None => downstream,
            };
            let caps = match q.filter() {
                Some(filter) => filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                None => caps,
            };
            q.set_result(&caps);
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }
}

/// Whether a source's caps describe frames a stage maps as it maps the first
/// source's: same memory (system or CUDA), format, size and interlacing. Framerates
/// may differ (the output is variable-rate), and so may fields that do not change the
/// memory layout (colorimetry, chroma-site, pixel-aspect-ratio): downstream sees the
/// first source's.
fn same_frames(current: &gst::Caps, caps: &gst::Caps) -> bool {
    let cuda = |caps: &gst::Caps| {
        caps.features(0)
            .is_some_and(|f| f.contains(crate::cuda::CAPS_FEATURE_CUDA_MEMORY))
    };
    if cuda(current) != cuda(caps) {
        return false;
    }
    match (
        gst_video::VideoInfo::from_caps(current),
        gst_video::VideoInfo::from_caps(caps),
    ) {
        (Ok(a), Ok(b)) => {
            a.format() == b.format()
                && a.width() == b.width()
                && a.height() == b.height()
                && a.interlace_mode() == b.interlace_mode()
        }
        _ => current == caps,
    }
}
