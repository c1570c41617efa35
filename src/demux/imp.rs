//! savantdemux: one sink pad, a src pad `src_<source-id>` per source.
//!
//! A source's pad appears when its `savant-source-add` (which carries the source's
//! caps), its first frame or its end arrives, whichever comes first; its
//! `savant-source-eos` becomes EOS on that pad, its `savant-source-delete` removes
//! the pad. The real EOS ends every pad still open.
//!
//! Gaps: a sink must preroll (at the start, after a flushing seek, when paused) on
//! a frame or a GAP event, while the other branches' sinks hold their queues full
//! waiting for the pipeline to reach PLAYING. A source whose frames a stage dropped
//! (all of them, or a run of them), or a live source with nothing yet after a seek,
//! would leave its sink without either: a deadlock. So a frame at time t gives a
//! GAP event up to t to every other open pad that has had nothing since the segment
//! began, and, while the demux is not PLAYING, to every pad whose last frame or gap
//! ended before t, as demuxers do for sparse streams. In PLAYING with every pad
//! under way (the steady state) no gap is sent. A pad's queued gaps are merged, so
//! a blocked pad holds one.
//!
//! Each src pad has its own streaming thread (a GstTask) fed by a small bounded
//! queue (`queue-size` frames): a sink that blocks (prerolling, or slow) holds back
//! its own source only until that queue is full, so `d.src_a ! fakesink d.src_b !
//! fakesink` prerolls without a queue per branch, as tee with queues would.
//! Serialized events go through the same queue, in order with the frames.
//!
//! Caps: each pad gets its own source's caps (savantmux carries them in the
//! frame's SavantSource meta), else the stream's.
//!
//! Pads stay across restarts (PLAYING -> NULL -> PLAYING): links made at launch
//! keep working; each run sends stream-start, caps and segment again.
//!
//! Upstream: one seek goes upstream per seek, whatever the number of branches that
//! send it (GStreamer sinks each send the application's seek; the copies share a
//! seqnum).
//!
//! Locks: `state`, then a pad queue's `queue`; no lock is held while pushing, and
//! the sink thread never waits on a queue with `state` held.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Condvar, LazyLock, Mutex};

use gst::glib;
use gst::glib::translate::{from_glib, from_glib_borrow, from_glib_full, IntoGlib, ToGlibPtr};
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::frame::source;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantdemux",
        gst::DebugColorFlags::empty(),
        Some("gst-savant many-source demux"),
    )
});

const DEFAULT_QUEUE_SIZE: u32 = 2;

enum Item {
    Buffer(gst::Buffer),
    Event(gst::Event),
    /// The source was deleted: the pad goes once everything before it went.
    Remove,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    buffers: usize,
    /// Between FLUSH_START and FLUSH_STOP: nothing is queued, the sink gets
    /// FLUSHING.
    flushing: bool,
    /// The pad is inactive: the task returns.
    stopped: bool,
    /// The last push's error, if it failed.
    flow: Option<gst::FlowError>,
    /// The most frames this queue held.
    max_buffers: usize,
}

/// A src pad's queue, shared by the sink thread and the pad's task.
#[derive(Default)]
struct PadQueue {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl PadQueue {
    fn reset(&self, flushing: bool) {
        let mut q = self.queue.lock().unwrap();
        q.items.clear();
        q.buffers = 0;
        q.flushing = flushing;
        q.flow = None;
        drop(q);
        self.changed.notify_all();
    }
}

struct Output {
    pad: gst::Pad,
    queue: Arc<PadQueue>,
    /// Its savant-source-eos (or the real EOS) was queued.
    ended: bool,
    /// The caps last queued on the pad, in this run.
    caps: Option<gst::Caps>,
    /// Stream-start and segment were queued in this run.
    started: bool,
    /// Where the last frame or gap queued in this segment ends (stream time).
    position: Option<gst::ClockTime>,
}

#[derive(Default)]
struct State {
    /// By source id.
    outputs: HashMap<String, Output>,
    caps: Option<gst::Caps>,
    segment: Option<gst::Event>,
    /// A pad had a source in this run.
    any_source: bool,
    /// The last seek sent upstream: (seqnum, result).
    last_seek: Option<(gst::Seqnum, bool)>,
}

pub struct SavantDemux {
    sinkpad: gst::Pad,
    state: Mutex<State>,
    queue_size: AtomicU32,
    /// The element is PLAYING: sinks that had something need no gap to preroll.
    playing: AtomicBool,
}

#[glib::object_subclass]
impl ObjectSubclass for SavantDemux {
    const NAME: &'static str = "GstSavantDemux";
    type Type = super::SavantDemux;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").unwrap();
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                SavantDemux::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |demux| demux.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                SavantDemux::catch_panic_pad_function(
                    parent,
                    || false,
                    |demux| demux.sink_event(pad, event),
                )
            })
            .build();
        Self {
            sinkpad,
            state: Mutex::new(State::default()),
            queue_size: AtomicU32::new(DEFAULT_QUEUE_SIZE),
            playing: AtomicBool::new(false),
        }
    }
}

impl ObjectImpl for SavantDemux {
    fn constructed(&self) {
        self.parent_constructed();
        self.obj().add_pad(&self.sinkpad).unwrap();
        crate::stage::registry::register(self.obj().upcast_ref());
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("queue-size")
                    .nick("Queue size")
                    .blurb(
                        "Frames each source pad's own thread may hold queued: a blocked \
                         branch (a sink prerolling) holds back the stream only once its \
                         queue is full, so branches need no queue of their own",
                    )
                    .minimum(1)
                    .maximum(1024)
                    .default_value(DEFAULT_QUEUE_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "Per source: frames queued now and at most (the queue-size \
                         frames held per pad), and the pad's last flow result",
                    )
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "queue-size" {
            self.queue_size
                .store(value.get().expect("type checked upstream"), Relaxed);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "queue-size" => self.queue_size.load(Relaxed).to_value(),
            "stats" => self.stats().to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for SavantDemux {}

impl ElementImpl for SavantDemux {
    element_metadata!(
        "Savant source demux",
        "Generic/Video",
        "Splits a savantmux stream: a src pad src_<source-id> per source, made \
         when its first frame arrives, each with its own thread and source \
         caps, EOS when the source ends, removed when its mux pad is released",
    );

    element_pad_templates!({
        // Frames pass through untouched, so CUDA frames too (a GPU decoder per
        // source, one CUDA stage for all).
        let caps = crate::cuda::raw_video_caps();
        vec![
            gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            )
            .unwrap(),
            gst::PadTemplate::new(
                "src_%s",
                gst::PadDirection::Src,
                gst::PadPresence::Sometimes,
                &caps,
            )
            .unwrap(),
        ]
    });

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            // A new run: the pads stay (links made at launch keep working), their
            // streams start again.
            let mut state = self.state.lock().unwrap();
            state.caps = None;
            state.segment = None;
            state.any_source = false;
            state.last_seek = None;
            for output in state.outputs.values_mut() {
                output.ended = false;
                output.caps = None;
                output.started = false;
                output.position = None;
            }
        }
        if transition == gst::StateChange::PlayingToPaused {
            self.playing.store(false, Relaxed);
            self.gap_lagging_pads();
        }
        let result = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToPlaying {
            self.playing.store(true, Relaxed);
        }
        Ok(result)
    }
}

impl SavantDemux {
    fn stats(&self) -> gst::Structure {
        let state = self.state.lock().unwrap();
        let mut stats = gst::Structure::builder("savantdemux-stats")
            .field("queue-size", self.queue_size.load(Relaxed))
            .build();
        for (id, output) in &state.outputs {
            let q = output.queue.queue.lock().unwrap();
            stats.set(
                id.as_str(),
                gst::Structure::builder("source")
                    .field("frames-queued", q.buffers as u32)
                    .field("max-frames-queued", q.max_buffers as u32)
                    .field("flow", q.flow.map_or("ok".to_owned(), |e| format!("{e:?}")))
                    .build(),
            );
        }
        stats
    }

    /// Makes the pad of source `id`, active, with its task.
    fn make_pad(&self, id: &str) -> Result<(gst::Pad, Arc<PadQueue>), gst::FlowError> {
        let queue = Arc::new(PadQueue::default());
        let templ = self.obj().pad_template("src_%s").unwrap();
        let pad = gst::Pad::builder_from_template(&templ)
            .name(format!("src_{id}"))
            .build();
        // Plain C functions that keep nothing in the pad's function data: code that
        // wraps a pad's functions, as GstValidate's pad monitor does (it keeps the
        // old function, installs its own with gst_pad_set_*_function and calls the
        // old one from it), frees that data and leaves NULL in its place. A Rust
        // closure's trampoline reads its closure from there: one that captured the
        // queue read freed memory (SIGSEGV when the pad was deactivated), and even
        // one that captures nothing fails the null check of debug builds.
        let raw: *mut gst::ffi::GstPad = pad.to_glib_none().0;
        // SAFETY: the pad is new (not active, linked or shared yet); no data and no
        // destroy function, so nothing is freed when someone replaces them.
        unsafe {
            gst::ffi::gst_pad_set_activatemode_function_full(
                raw,
                Some(src_activate_mode),
                std::ptr::null_mut(),
                None,
            );
            gst::ffi::gst_pad_set_event_function_full(
                raw,
                Some(src_pad_event),
                std::ptr::null_mut(),
                None,
            );
        }
        // SAFETY: the only value stored under this quark, always an Arc<PadQueue>
        // (read back as one in pad_queue), set before the pad is active or shared.
        unsafe { pad.set_qdata(*PAD_QUEUE, queue.clone()) };
        pad.set_active(true).map_err(|_| gst::FlowError::Error)?;
        self.obj()
            .add_pad(&pad)
            .map_err(|_| gst::FlowError::Error)?;
        gst::debug!(CAT, imp = self, "source '{id}': pad {}", pad.name());
        Ok((pad, queue))
    }

    /// The queue of source `id`'s pad, made when it is the first frame (or `add`, the
    /// source's savant-source-add), with the run's sticky events queued first (then
    /// `add`), and a caps event when the source caps (`frame_caps`, from the
    /// SavantSource meta or the add event) differ from the pad's.
    fn output(
        &self,
        id: &str,
        frame_caps: Option<gst::Caps>,
        add: Option<gst::Event>,
    ) -> Result<Arc<PadQueue>, gst::FlowError> {
        let mut state = self.state.lock().unwrap();
        state.any_source = true;
        if !state.outputs.contains_key(id) {
            if state.outputs.len() >= source::MAX_SOURCES {
                drop(state);
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Demux,
                    ("{}", source::too_many_sources())
                );
                return Err(gst::FlowError::Error);
            }
            drop(state);
            let (pad, queue) = self.make_pad(id)?;
            state = self.state.lock().unwrap();
            state.outputs.insert(
                id.to_owned(),
                Output {
                    pad,
                    queue,
                    ended: false,
                    caps: None,
                    started: false,
                    position: None,
                },
            );
        }
        let stream_caps = state.caps.clone();
        let segment = state.segment.clone();
        let output = state.outputs.get_mut(id).expect("inserted above");
        // A source's own caps only where they describe frames laid out as the
        // stream's: a mark made by something else than a savantmux may say anything.
        let caps = match frame_caps {
            Some(caps)
                if stream_caps
                    .as_ref()
                    .is_some_and(|s| source::same_layout(s, &caps)) =>
            {
                Some(caps)
            }
            Some(caps) => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "source '{id}': caps {caps} ignored, not the stream's layout"
                );
                stream_caps
            }
            None if output.caps.is_none() => stream_caps,
            None => None,
        };
        let mut events = Vec::new();
        let starting = !output.started;
        if starting {
            output.started = true;
            let stream_id = format!("savantdemux/{id}");
            events.push(gst::event::StreamStart::builder(&stream_id).build());
        }
        if let Some(caps) = caps {
            // The mux gives every frame of a source the same caps object.
            let same = output
                .caps
                .as_ref()
                .is_some_and(|c| c.as_ptr() == caps.as_ptr() || *c == caps);
            if !same {
                events.push(gst::event::Caps::new(&caps));
                output.caps = Some(caps);
            }
        }
        if starting {
            events.extend(segment);
            events.extend(add);
        }
        if !events.is_empty() {
            let mut q = output.queue.queue.lock().unwrap();
            if !q.flushing {
                q.items.extend(events.into_iter().map(Item::Event));
            }
            drop(q);
            output.queue.changed.notify_all();
        }
        if output.ended {
            return Err(gst::FlowError::Eos);
        }
        Ok(output.queue.clone())
    }

    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(id) = source::read(&buffer) else {
            gst::element_imp_error!(
                self,
                gst::StreamError::Demux,
                ("a frame without a source id: savantdemux splits what a savantmux made")
            );
            return Err(gst::FlowError::Error);
        };
        let queue = match self.output(&id, source::read_caps(&buffer), None) {
            Ok(queue) => queue,
            // A source that ended: its frames after the end go nowhere, as with
            // any demuxer's ended pad.
            Err(gst::FlowError::Eos) => return Ok(gst::FlowSuccess::Ok),
            Err(e) => return Err(e),
        };
        let limit = self.queue_size.load(Relaxed) as usize;
        let mut q = queue.queue.lock().unwrap();
        while q.buffers >= limit && !q.flushing && !q.stopped {
            q = queue.changed.wait(q).unwrap();
        }
        if q.flushing || q.stopped {
            return Err(gst::FlowError::Flushing);
        }
        let time = buffer.pts().map(|pts| (pts, buffer.duration()));
        q.items.push_back(Item::Buffer(buffer));
        q.buffers += 1;
        q.max_buffers = q.max_buffers.max(q.buffers);
        let flow = q.flow;
        drop(q);
        queue.changed.notify_all();
        if let Some((pts, duration)) = time {
            self.fill_gaps(&id, pts, duration);
        }
        match flow.map_or(Ok(gst::FlowSuccess::Ok), Err) {
            // A pad nobody linked (yet) drops its frames, as tee's
            // allow-not-linked does: pads appear one by one, and the first may well
            // be one the app does not want. An ended branch likewise.
            Err(gst::FlowError::NotLinked) | Err(gst::FlowError::Eos) => Ok(gst::FlowSuccess::Ok),
            Err(gst::FlowError::Flushing) => Ok(gst::FlowSuccess::Ok),
            other => other,
        }
    }

    /// After a frame of `id` at `pts`: that pad's position moves to the frame's end,
    /// and every other open pad with caps that needs a gap (see the module comment)
    /// gets one up to `pts` (merged with a gap still queued there).
    fn fill_gaps(&self, id: &str, pts: gst::ClockTime, duration: Option<gst::ClockTime>) {
        let playing = self.playing.load(Relaxed);
        let mut state = self.state.lock().unwrap();
        for (source, output) in state.outputs.iter_mut() {
            if source == id {
                // Saturating: a crafted pts near the end of time must not overflow.
                let end = pts.saturating_add(
                    duration
                        .or_else(|| frame_interval(output.caps.as_ref()))
                        .unwrap_or_default(),
                );
                output.position = Some(output.position.map_or(end, |p| p.max(end)));
                continue;
            }
            if !output.started || output.ended || output.caps.is_none() {
                continue;
            }
            match output.position {
                Some(position) if playing || position >= pts => continue,
                _ => queue_gap(output, pts),
            }
        }
    }

    /// Playing -> paused: sinks preroll again, and a pad whose frames stopped (a stage
    /// drops them) has nothing queued to preroll on, while the frame the demux waits
    /// to queue on a full pad holds back every later one. Each pad behind the
    /// furthest gets a gap up to it.
    fn gap_lagging_pads(&self) {
        let mut state = self.state.lock().unwrap();
        let Some(furthest) = state.outputs.values().filter_map(|o| o.position).max() else {
            return;
        };
        for output in state.outputs.values_mut() {
            if output.started
                && !output.ended
                && output.caps.is_some()
                && output.position.is_none_or(|p| p < furthest)
            {
                queue_gap(output, furthest);
            }
        }
    }

    fn queues(&self) -> Vec<(gst::Pad, Arc<PadQueue>)> {
        let state = self.state.lock().unwrap();
        state
            .outputs
            .values()
            .map(|o| (o.pad.clone(), o.queue.clone()))
            .collect()
    }

    /// Queues `event` on every pad that started in this run and has not ended.
    fn queue_on_all(&self, event: &gst::Event) {
        let state = self.state.lock().unwrap();
        for output in state.outputs.values().filter(|o| o.started && !o.ended) {
            let mut q = output.queue.queue.lock().unwrap();
            if !q.flushing {
                q.items.push_back(Item::Event(event.clone()));
            }
            drop(q);
            output.queue.changed.notify_all();
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        if let Some((name, id)) = source::parse(&event) {
            return self.source_event(name, &id, event);
        }
        match event.view() {
            EventView::FlushStart(_) => {
                for (pad, queue) in self.queues() {
                    queue.reset(true);
                    pad.push_event(event.clone());
                }
                true
            }
            EventView::FlushStop(_) => {
                {
                    let mut state = self.state.lock().unwrap();
                    for output in state.outputs.values_mut() {
                        output.ended = false;
                        output.position = None;
                    }
                }
                for (pad, queue) in self.queues() {
                    queue.reset(false);
                    pad.push_event(event.clone());
                }
                true
            }
            EventView::Caps(c) => {
                let caps = c.caps_owned();
                let mut state = self.state.lock().unwrap();
                state.caps = Some(caps.clone());
                // Pads whose source caps no frame told yet take the stream's.
                for output in state.outputs.values_mut().filter(|o| o.started) {
                    if output.caps.is_none() {
                        output.caps = Some(caps.clone());
                        let mut q = output.queue.queue.lock().unwrap();
                        q.items.push_back(Item::Event(event.clone()));
                        drop(q);
                        output.queue.changed.notify_all();
                    }
                }
                true
            }
            EventView::Segment(_) => {
                let mut state = self.state.lock().unwrap();
                state.segment = Some(event.clone());
                for output in state.outputs.values_mut() {
                    output.position = None;
                }
                drop(state);
                self.queue_on_all(&event);
                true
            }
            EventView::StreamStart(_) => true,
            EventView::Eos(_) => {
                let any_source = self.state.lock().unwrap().any_source;
                if !any_source {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Demux,
                        ("end of stream without a single frame: no source pad was made")
                    );
                    return false;
                }
                self.queue_on_all(&event);
                let mut state = self.state.lock().unwrap();
                for output in state.outputs.values_mut() {
                    output.ended = true;
                }
                true
            }
            _ if event.is_serialized() => {
                if self.queues().is_empty() {
                    return gst::Pad::event_default(pad, Some(&*self.obj()), event);
                }
                self.queue_on_all(&event);
                true
            }
            _ => {
                let pads = self.queues();
                if pads.is_empty() {
                    return gst::Pad::event_default(pad, Some(&*self.obj()), event);
                }
                for (pad, _) in pads {
                    pad.push_event(event.clone());
                }
                true
            }
        }
    }

    /// savant-source-add makes the pad (after its stream-start, caps and segment);
    /// eos ends the pad; delete removes it once what was queued before it went out.
    fn source_event(&self, name: &str, id: &str, event: gst::Event) -> bool {
        if name == source::ADD {
            let started = self
                .state
                .lock()
                .unwrap()
                .outputs
                .get(id)
                .is_some_and(|o| o.started);
            if !started {
                let caps = source::event_caps(&event);
                let _ = self.output(id, caps, Some(event));
                return true;
            }
        }
        // A source that ended without a frame still gets its pad, so that the
        // branch linked to it ends.
        let queue = match self.output(id, None, None) {
            Ok(queue) => queue,
            Err(gst::FlowError::Eos) if name == source::DELETE => {
                let state = self.state.lock().unwrap();
                match state.outputs.get(id) {
                    Some(output) => output.queue.clone(),
                    None => return true,
                }
            }
            Err(_) => return true,
        };
        let mut items = vec![Item::Event(event.clone())];
        let mut state = self.state.lock().unwrap();
        match name {
            // The last source's pad ends with the real EOS right after.
            source::EOS if !source::is_last(&event) => {
                // Events made from the stream's carry its seqnum: the segment's
                // (the seek's, after one).
                let mut eos = gst::event::Eos::builder();
                if let Some(segment) = &state.segment {
                    eos = eos.seqnum(segment.seqnum());
                }
                items.push(Item::Event(eos.build()));
                if let Some(output) = state.outputs.get_mut(id) {
                    output.ended = true;
                }
            }
            source::DELETE => {
                state.outputs.remove(id);
                items.push(Item::Remove);
            }
            _ => {}
        }
        drop(state);
        let mut q = queue.queue.lock().unwrap();
        if !q.flushing {
            q.items.extend(items);
        }
        drop(q);
        queue.changed.notify_all();
        true
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        if let gst::EventView::Seek(_) = event.view() {
            // Every branch's sink sends the application's seek: one goes upstream.
            let seqnum = event.seqnum();
            if let Some((last, result)) = self.state.lock().unwrap().last_seek {
                if last == seqnum {
                    gst::debug!(CAT, obj = pad, "seek {seqnum:?} already sent upstream");
                    return result;
                }
            }
            self.state.lock().unwrap().last_seek = Some((seqnum, true));
            let result = self.sinkpad.push_event(event);
            let mut state = self.state.lock().unwrap();
            if state.last_seek.is_some_and(|(s, _)| s == seqnum) {
                state.last_seek = Some((seqnum, result));
            }
            return result;
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }
}

/// Queues a GAP event on `output` from its position (its frame time when it has
/// none yet: enough for a sink to preroll) up to `until`, extending a gap still
/// queued there rather than adding another; the position moves to `until`.
fn queue_gap(output: &mut Output, until: gst::ClockTime) {
    let from = output.position.unwrap_or(until).min(until);
    output.position = Some(until);
    let mut q = output.queue.queue.lock().unwrap();
    if q.flushing {
        return;
    }
    let from = match q.items.back() {
        Some(Item::Event(e)) => match e.view() {
            gst::EventView::Gap(gap) => {
                let from = gap.get().0;
                q.items.pop_back();
                from
            }
            _ => from,
        },
        _ => from,
    };
    q.items.push_back(Item::Event(
        gst::event::Gap::builder(from)
            .duration(until.saturating_sub(from))
            .build(),
    ));
    drop(q);
    output.queue.changed.notify_all();
}

/// One frame's duration at the framerate of `caps`, when they give one.
fn frame_interval(caps: Option<&gst::Caps>) -> Option<gst::ClockTime> {
    let framerate = caps?.structure(0)?.get::<gst::Fraction>("framerate").ok()?;
    let (n, d) = (framerate.numer(), framerate.denom());
    if n <= 0 || d <= 0 {
        return None;
    }
    gst::ClockTime::SECOND.mul_div_floor(d as u64, n as u64)
}

/// A src pad's activate-mode function (see make_pad): starts or stops its task.
unsafe extern "C" fn src_activate_mode(
    pad: *mut gst::ffi::GstPad,
    _parent: *mut gst::ffi::GstObject,
    mode: gst::ffi::GstPadMode,
    active: glib::ffi::gboolean,
) -> glib::ffi::gboolean {
    // SAFETY: GStreamer calls this with a valid pad it holds for the call.
    let pad: glib::translate::Borrowed<gst::Pad> = unsafe { from_glib_borrow(pad) };
    let mode: gst::PadMode = unsafe { from_glib(mode) };
    let active = active != glib::ffi::GFALSE;
    let result = std::panic::catch_unwind(|| {
        if mode != gst::PadMode::Push {
            return Err(gst::loggable_error!(CAT, "push mode only"));
        }
        let queue =
            pad_queue(&pad).ok_or_else(|| gst::loggable_error!(CAT, "a pad without its queue"))?;
        set_task(&pad, &queue, active)
    });
    match result {
        Ok(Ok(())) => glib::ffi::GTRUE,
        Ok(Err(error)) => {
            error.log_with_object(&*pad);
            glib::ffi::GFALSE
        }
        Err(_) => glib::ffi::GFALSE,
    }
}

/// A src pad's event function (see make_pad).
unsafe extern "C" fn src_pad_event(
    pad: *mut gst::ffi::GstPad,
    parent: *mut gst::ffi::GstObject,
    event: *mut gst::ffi::GstEvent,
) -> glib::ffi::gboolean {
    // SAFETY: GStreamer calls this with a valid pad and parent it holds for the
    // call, and hands over its reference to the event.
    let pad: glib::translate::Borrowed<gst::Pad> = unsafe { from_glib_borrow(pad) };
    let parent: glib::translate::Borrowed<Option<gst::Object>> =
        unsafe { from_glib_borrow(parent) };
    let event: gst::Event = unsafe { from_glib_full(event) };
    SavantDemux::catch_panic_pad_function(
        parent.as_ref().as_ref(),
        || false,
        |demux| demux.src_event(&pad, event),
    )
    .into_glib()
}

/// Where a src pad keeps its queue (see make_pad).
static PAD_QUEUE: LazyLock<glib::Quark> =
    LazyLock::new(|| glib::Quark::from_str("savant-demux-pad-queue"));

fn pad_queue(pad: &gst::Pad) -> Option<Arc<PadQueue>> {
    // SAFETY: make_pad stores an Arc<PadQueue> under this quark and nothing else
    // does; it lives as long as the pad, which the caller holds.
    unsafe {
        pad.qdata::<Arc<PadQueue>>(*PAD_QUEUE)
            .map(|queue| queue.as_ref().clone())
    }
}

/// Starts or stops a src pad's task, which pushes what its queue holds.
fn set_task(pad: &gst::Pad, queue: &Arc<PadQueue>, active: bool) -> Result<(), gst::LoggableError> {
    if !active {
        {
            let mut q = queue.queue.lock().unwrap();
            q.stopped = true;
            q.items.clear();
            q.buffers = 0;
        }
        queue.changed.notify_all();
        return pad
            .stop_task()
            .map_err(|_| gst::loggable_error!(CAT, "could not stop the pad's task"));
    }
    queue.reset(false);
    queue.queue.lock().unwrap().stopped = false;
    let queue = queue.clone();
    let task_pad = pad.clone();
    pad.start_task(move || push_next(&task_pad, &queue))
        .map_err(|_| gst::loggable_error!(CAT, "could not start the pad's task"))
}

/// One turn of a src pad's task: waits for an item and pushes it.
fn push_next(pad: &gst::Pad, queue: &PadQueue) {
    let item = {
        let mut q = queue.queue.lock().unwrap();
        loop {
            if q.stopped {
                return;
            }
            if let Some(item) = q.items.pop_front() {
                if matches!(item, Item::Buffer(_)) {
                    q.buffers -= 1;
                }
                break item;
            }
            q = queue.changed.wait(q).unwrap();
        }
    };
    queue.changed.notify_all();
    let flow = match item {
        Item::Buffer(buffer) => Some(pad.push(buffer)),
        Item::Event(event) => {
            pad.push_event(event);
            None
        }
        Item::Remove => {
            // Not from the pad's own task (removing stops it): GStreamer's
            // thread pool does it.
            if let Some(element) = pad.parent_element() {
                let pad = pad.clone();
                element.call_async(move |element| {
                    let _ = pad.set_active(false);
                    let _ = element.remove_pad(&pad);
                });
            }
            None
        }
    };
    let mut q = queue.queue.lock().unwrap();
    if let Some(flow) = flow {
        if !q.flushing {
            q.flow = flow.err();
        }
    }
    drop(q);
    queue.changed.notify_all();
}
