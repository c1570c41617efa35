//! savantmux: request sink pads `sink_%u`, one src pad; a GstAggregator.
//!
//! GstAggregator gives the mux what N-to-1 needs and would otherwise be written
//! again here: each sink pad queues its frames and serialized events, one output
//! thread of the element's own pushes downstream (so no source ever waits on another
//! source's push, and no lock of ours is held across a push), live sources get
//! latency and timeouts, and a flushing seek goes to every source with one
//! FLUSH_START/FLUSH_STOP downstream and a segment carrying the seek's seqnum, rate,
//! start and stop; EOS carries it too.
//!
//! Per call of `aggregate`, on the output thread: sources that reached their end
//! with nothing queued are ended (`savant-source-eos`), then the queued frame with
//! the earliest running time goes out (at the same running time, the source taken
//! longest ago; a frame without a timestamp stands one frame after its source's
//! last, so a decoder that stamps only its first frame starves no other source),
//! marked with its source's id and caps
//! (frame/source.rs), its pts/dts turned from the source's segment into the output
//! segment, so the one output segment holds every source and a `sync=true` sink plays
//! each at its own pace. When every source has ended, EOS.
//!
//! Source events: `savant-source-add` goes before a source's first frame after the
//! start or a flush of its pad. GStreamer 1.22's aggregator sends stream-start, caps
//! and segment only with the first frame (`gst_aggregator_push_src_event` came in
//! 1.26), so the events due before the first frame of a run or flush follow that
//! frame; stages announce a source by its first frame as well (stage/runtime.rs), so
//! a stage sees `on_source_add` before the source's first frame either way.
//!
//! Caps: every source must give frames a stage maps the same way (memory, format,
//! size, interlacing); other fields (framerate, pixel-aspect-ratio, colorimetry,
//! chroma-site) may differ and are kept per source: the output caps are the first
//! source's, with framerate 0/1, and each frame carries its source's caps.
//!
//! Only the output thread pushes, with one exception: releasing the last pad while
//! the output thread is idle (it has no pad to wait on, and never will), where the
//! releasing thread ends the stream; released while the output thread is in
//! `aggregate`, it ends the stream itself when the call returns.
//!
//! Locks: `state` is never held while pushing; a pad's `source` lock is taken alone
//! or after `state`, never the other way round.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

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
struct State {
    /// The output caps: the first source's, framerate 0/1.
    caps: Option<gst::Caps>,
    /// The pad whose caps were taken, and its own caps (for the error naming both).
    caps_pad: Option<(String, gst::Caps)>,
    /// A frame went out since the start or the last flush (stream-start, caps and
    /// segment with it): source events may go now.
    started: bool,
    /// Source events waiting for `started`, or for the output thread (released pads).
    pending: Vec<gst::Event>,
    /// The output thread is in `aggregate` (it may be pushing).
    aggregating: bool,
    /// How many frames the output thread took (`SourceState::taken_at`).
    taken: u64,
    /// The last pad was released while the output thread was in `aggregate`: it ends
    /// the stream when that call returns (see `release_pad`).
    end_when_aggregated: bool,
}

#[derive(Default)]
pub struct SavantMux {
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for SavantMux {
    const NAME: &'static str = "GstSavantMux";
    type Type = super::SavantMux;
    type ParentType = gst_base::Aggregator;
    type Interfaces = (gst::ChildProxy,);
}

impl ObjectImpl for SavantMux {}

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
    element_metadata!(
        "Savant source mux",
        "Generic/Video",
        "Frames of many sources through one pipeline, interleaved by running \
         time: each frame carries its source id (frame.source_id) and caps, each \
         source's end is a serialized savant-source-eos event; EOS when every \
         source has ended",
    );

    element_pad_templates!({
        // Frames pass through untouched, so CUDA frames too (a GPU decoder per
        // source, one CUDA stage for all).
        let caps = crate::cuda::raw_video_caps();
        vec![
            gst::PadTemplate::with_gtype(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &caps,
                gst_base::AggregatorPad::static_type(),
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

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let pad = self.parent_request_new_pad(templ, name, caps)?;
        // gst-launch's `m. sink_0::source-id=...` is set when the pad appears.
        self.obj()
            .child_added(pad.upcast_ref::<glib::Object>(), &pad.name());
        Some(pad)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let name = pad.name();
        let mut events = Vec::new();
        if let Some(pad) = pad.downcast_ref::<MuxSinkPad>() {
            let source = pad.source().clone();
            if let (Some(id), true) = (source.id, source.announced) {
                if !source.ended {
                    events.push(source::event(source::EOS, &id));
                }
                events.push(source::event(source::DELETE, &id));
            }
        }
        self.parent_release_pad(pad);
        self.obj()
            .child_removed(pad.upcast_ref::<glib::Object>(), &name);
        if self.obj().num_sink_pads() > 0 {
            // The output thread pushes them, in order with the other sources' frames.
            self.state.lock().unwrap().pending.extend(events);
            return;
        }
        // No source left. While the output thread is in `aggregate` (perhaps blocked
        // in a push downstream), it ends the stream itself when the call returns:
        // pushing here would race its push and block this (application) thread on
        // downstream. Otherwise it has nothing to do and never will (GstAggregator
        // waits for pads that are not there; with no pads it does not call
        // `aggregate`), so this thread ends the stream: nothing else pushes.
        let mut state = self.state.lock().unwrap();
        if state.aggregating {
            state.pending.extend(events);
            state.end_when_aggregated = true;
            return;
        }
        let started = state.started;
        drop(state);
        let srcpad = self.obj().src_pad().clone();
        if started {
            for event in events {
                srcpad.push_event(event);
            }
            srcpad.push_event(gst::event::Eos::new());
        }
    }
}

impl AggregatorImpl for SavantMux {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        // A new run: every source is announced again (new instances of the stages
        // downstream), with the pad's source-id of now.
        *self.state.lock().unwrap() = State::default();
        for pad in self.mux_pads() {
            *pad.source() = Default::default();
        }
        Ok(())
    }

    fn flush(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Downstream was flushed: the segment (and the source events due) go again
        // with the next frame.
        let mut state = self.state.lock().unwrap();
        state.started = false;
        state
            .pending
            .retain(|e| source::parse(e).is_some_and(|(name, _)| name == source::DELETE));
        drop(state);
        self.parent_flush()
    }

    fn aggregate(&self, _timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.state.lock().unwrap().aggregating = true;
        let flow = self.aggregate_queued();
        let mut state = self.state.lock().unwrap();
        state.aggregating = false;
        if !std::mem::take(&mut state.end_when_aggregated) {
            return flow;
        }
        // The last pad went away during the call (see `release_pad`): its source
        // events, then EOS, which GstAggregator pushes (with the seek's seqnum)
        // when `aggregate` returns EOS.
        let events = std::mem::take(&mut state.pending);
        let started = state.started;
        drop(state);
        match flow {
            Ok(_) | Err(gst_base::AGGREGATOR_FLOW_NEED_DATA) if started => {
                self.push_events(events);
                Err(gst::FlowError::Eos)
            }
            Ok(_) | Err(gst_base::AGGREGATOR_FLOW_NEED_DATA) => Err(gst::FlowError::Eos),
            flow => flow,
        }
    }
    fn next_time(&self) -> Option<gst::ClockTime> {
        // Live: a source that stops sending holds the others back by the latency at
        // most.
        self.obj().simple_get_next_time()
    }

    fn update_src_caps(&self, _caps: &gst::Caps) -> Result<gst::Caps, gst::FlowError> {
        self.state
            .lock()
            .unwrap()
            .caps
            .clone()
            .ok_or(gst_base::AGGREGATOR_FLOW_NEED_DATA)
    }

    fn sink_event(&self, pad: &gst_base::AggregatorPad, event: gst::Event) -> bool {
        use gst::EventView;
        let name = pad.name();
        match event.view() {
            EventView::Caps(c) => {
                let caps = c.caps_owned();
                if let Some(pad) = pad.downcast_ref::<MuxSinkPad>() {
                    pad.source().caps = Some(caps.clone());
                }
                let mut state = self.state.lock().unwrap();
                match &state.caps {
                    None => {
                        // Many sources make one variable-rate stream.
                        let mut output = caps.clone();
                        if let Some(s) = output.make_mut().structure_mut(0) {
                            s.set("framerate", gst::Fraction::new(0, 1));
                        }
                        state.caps = Some(output);
                        state.caps_pad = Some((name.to_string(), caps.clone()));
                        drop(state);
                        self.obj().src_pad().mark_reconfigure();
                        true
                    }
                    Some(current) if source::same_layout(current, &caps) => true,
                    Some(current) => {
                        let (other, current) = state
                            .caps_pad
                            .clone()
                            .unwrap_or_else(|| (String::new(), current.clone()));
                        drop(state);
                        gst::element_imp_error!(
                            self,
                            gst::CoreError::Negotiation,
                            (
                                "{name}: caps {caps} differ from {current} (of {}); every \
                                 source of a savantmux needs the same memory (system or \
                                 CUDA), format, size and interlacing (framerate, \
                                 pixel-aspect-ratio and colorimetry may differ): put \
                                 videoconvert ! videoscale ! capsfilter (cudaupload or \
                                 cudadownload for the memory) ahead of it",
                                other
                            )
                        );
                        false
                    }
                }
            }
            EventView::Segment(s) if s.segment().format() != gst::Format::Time => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("{name}: only TIME segments can be muxed")
                );
                false
            }
            // Another mux's source events upstream: the frames get this mux's ids.
            _ if source::parse(&event).is_some() => true,
            _ => self.parent_sink_event(pad, event),
        }
    }

    fn src_event(&self, event: gst::Event) -> bool {
        let gst::EventView::Seek(seek) = event.view() else {
            return self.parent_src_event(event);
        };
        if !seek.get().1.contains(gst::SeekFlags::FLUSH) {
            return self.parent_src_event(event);
        }
        // GStreamer 1.22's aggregator takes a seek that a source cannot seek (a
        // live camera, an appsrc stream) as done, but then waits for that source's
        // FLUSH_STOP forever, and downstream stays flushing. Such a source gets
        // the FLUSH_STOP here (its queued frames are dropped, as every frame in
        // flight downstream is), and keeps streaming.
        let unseekable: Vec<MuxSinkPad> = self
            .mux_pads()
            .into_iter()
            .filter(|pad| {
                let mut query = gst::query::Seeking::new(gst::Format::Time);
                pad.peer_query(&mut query) && !query.result().0
            })
            .collect();
        let seqnum = event.seqnum();
        let done = self.parent_src_event(event);
        if done {
            for pad in unseekable {
                gst::debug!(
                    CAT,
                    obj = pad,
                    "source cannot seek: flush of the seek ends here"
                );
                pad.send_event(gst::event::FlushStop::builder(true).seqnum(seqnum).build());
            }
        }
        done
    }

    fn sink_query(&self, pad: &gst_base::AggregatorPad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let caps = self.acceptable_caps(q.filter());
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::AcceptCaps(q) => {
                // Any raw video: caps another source cannot share get as far as
                // their caps event, refused there with an ERROR naming both.
                let accepted = q.caps().is_subset(&pad.pad_template_caps());
                q.set_result(accepted);
                true
            }
            _ => self.parent_sink_query(pad, query),
        }
    }
}

impl SavantMux {
    /// One step of the output thread: sources that ended, then the earliest frame.
    fn aggregate_queued(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let pads = self.mux_pads();
        let mut events = std::mem::take(&mut self.state.lock().unwrap().pending);

        // Sources that ended with nothing queued.
        for pad in &pads {
            if pad.is_eos() && !pad.has_buffer() && !pad.source().ended {
                let (id, first) = match self.fix_source_id(pad, &pads) {
                    Ok(id) => id,
                    Err(e) => return Err(self.source_error(&e)),
                };
                let mut source = pad.source();
                source.ended = true;
                if first || !source.announced {
                    // A source without a single frame is announced and ended all the
                    // same: a demux downstream makes and ends its pad.
                    source.announced = true;
                    events.push(source::add_event(&id, source.caps.as_ref()));
                }
                drop(source);
                gst::debug!(CAT, obj = pad, "source '{id}' ended");
                events.push(source::event(source::EOS, &id));
            }
        }
        let all_ended = !pads.is_empty() && pads.iter().all(|p| p.is_eos() && !p.has_buffer());
        if all_ended {
            // The last source's end: the real EOS follows at once (see
            // source::last_eos_event).
            if let Some(last) = events
                .iter()
                .rposition(|e| source::parse(e).is_some_and(|(n, _)| n == source::EOS))
            {
                if let Some((_, id)) = source::parse(&events[last]) {
                    events[last] = source::last_eos_event(&id);
                }
            }
        }

        // The queued frame with the earliest running time; at the same running
        // time, the source taken longest ago. A frame without a timestamp stands one
        // frame after its source's last (`SourceState::place`): taken as the
        // earliest, such frames of one source would starve every other.
        let next = pads
            .iter()
            .filter_map(|pad| {
                let buffer = pad.peek_buffer()?;
                let timed = pad
                    .segment()
                    .downcast_ref::<gst::ClockTime>()
                    .and_then(|s| s.to_running_time(buffer.pts()));
                let source = pad.source();
                let placed = source.place(timed, &buffer);
                Some(((placed, source.taken_at), pad))
            })
            .min_by_key(|(key, _)| *key);

        let started = self.state.lock().unwrap().started;
        let Some(((placed, _), pad)) = next else {
            if started || all_ended {
                self.push_events(events);
            } else {
                self.state.lock().unwrap().pending = events;
            }
            return if all_ended {
                Err(gst::FlowError::Eos)
            } else {
                Err(gst_base::AGGREGATOR_FLOW_NEED_DATA)
            };
        };
        let (id, _) = match self.fix_source_id(pad, &pads) {
            Ok(id) => id,
            Err(e) => return Err(self.source_error(&e)),
        };
        let (announce, caps) = {
            let mut state = self.state.lock().unwrap();
            state.taken += 1;
            let mut source = pad.source();
            source.last_running_time = Some(placed);
            source.taken_at = state.taken;
            (
                !std::mem::replace(&mut source.announced, true),
                source.caps.clone(),
            )
        };
        if announce {
            gst::debug!(CAT, obj = pad, "source '{id}' starts");
            events.push(source::add_event(&id, caps.as_ref()));
        }
        let Some(mut buffer) = pad.pop_buffer() else {
            return Err(gst_base::AGGREGATOR_FLOW_NEED_DATA);
        };
        let input = pad.segment();
        let output = self.obj().src_pad().segment();
        {
            let buffer = buffer.make_mut();
            if let (Some(input), Some(output)) = (
                input.downcast_ref::<gst::ClockTime>(),
                output.downcast_ref::<gst::ClockTime>(),
            ) {
                // The source's running time, as a position of the output segment.
                let convert = |t: Option<gst::ClockTime>| {
                    t.and_then(|t| input.to_running_time(t))
                        .and_then(|rt| output.position_from_running_time(rt))
                };
                let (pts, dts) = (convert(buffer.pts()), convert(buffer.dts()));
                buffer.set_pts(pts);
                buffer.set_dts(dts);
            }
            let muxed_ns =
                crate::stage::stats::metrics_enabled().then(|| gst::get_timestamp().nseconds());
            source::mark(buffer, &id, caps.as_ref(), muxed_ns);
        }
        if let Some(pts) = buffer.pts() {
            self.obj().set_position(pts);
        }
        if started {
            self.push_events(events);
            self.obj().finish_buffer(buffer)
        } else {
            // Stream-start, caps and segment go with the first frame; the events
            // due before it follow it (see the module comment).
            let flow = self.obj().finish_buffer(buffer);
            self.state.lock().unwrap().started = true;
            self.push_events(events);
            flow
        }
    }

    fn mux_pads(&self) -> Vec<MuxSinkPad> {
        self.obj()
            .sink_pads()
            .into_iter()
            .filter_map(|p| p.downcast::<MuxSinkPad>().ok())
            .collect()
    }

    fn push_events(&self, events: Vec<gst::Event>) {
        let srcpad = self.obj().src_pad().clone();
        for event in events {
            srcpad.push_event(event);
        }
    }

    fn source_error(&self, message: &str) -> gst::FlowError {
        gst::element_imp_error!(self, gst::StreamError::Failed, ("{message}"));
        gst::FlowError::Error
    }

    /// The source's id, fixed at its first frame (or its end, without frames):
    /// (id, whether it was fixed now). An id another pad's source already has is
    /// refused: its frames could not be told apart.
    fn fix_source_id(
        &self,
        pad: &MuxSinkPad,
        pads: &[MuxSinkPad],
    ) -> Result<(String, bool), String> {
        if let Some(id) = pad.source().id.clone() {
            return Ok((id, false));
        }
        let id = pad.source_id();
        // The id names savantdemux's pad (`src_<id>`): a '/' there makes a name that
        // gst-launch cannot link and an object path that points elsewhere.
        if id.contains('/') {
            return Err(format!(
                "{}: source-id '{id}' contains '/', which a pad name cannot (savantdemux \
                 names its pads src_<source-id>)",
                pad.name()
            ));
        }
        if let Some(other) = pads
            .iter()
            .find(|p| *p != pad && p.source().id.as_deref() == Some(id.as_str()))
        {
            return Err(format!(
                "{}: source-id '{id}' is already the id of {}'s source; every source of \
                 a savantmux needs an id of its own",
                pad.name(),
                other.name()
            ));
        }
        pad.source().id = Some(id.clone());
        Ok((id, true))
    }

    /// What a source may send: once a source fixed the caps, those, with only the
    /// fields a stage reads fixed (memory, format, size, interlacing), so each
    /// source keeps its own framerate, pixel-aspect-ratio, colorimetry and
    /// chroma-site; before that, what downstream takes.
    fn acceptable_caps(&self, filter: Option<&gst::CapsRef>) -> gst::Caps {
        let srcpad = self.obj().src_pad().clone();
        let fixed = self.state.lock().unwrap().caps.clone();
        let caps = match fixed {
            Some(mut caps) => {
                if let Some(s) = caps.make_mut().structure_mut(0) {
                    s.remove_fields([
                        "framerate",
                        "pixel-aspect-ratio",
                        "colorimetry",
                        "chroma-site",
                        "multiview-mode",
                        "multiview-flags",
                        "hdr-format",
                    ]);
                }
                // Preferred, not required (see the accept-caps query).
                caps.merge(srcpad.peer_query_caps(None));
                caps
            }
            None => srcpad.peer_query_caps(None),
        };

        match filter {
            Some(filter) => filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
            None => caps,
        }
    }
}
