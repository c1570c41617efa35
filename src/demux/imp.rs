//! savantdemux: one sink pad, a src pad `src_<source-id>` per source.
//!
//! A source's pad appears when its first frame arrives (after stream-start, the
//! current caps and segment, and the source's `savant-source-add`); its
//! `savant-source-eos` becomes EOS on that pad, its `savant-source-delete` removes
//! the pad. The real EOS ends every pad still open. Everything runs on the sink pad's
//! streaming thread; `state` is never held while pushing.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use gst::glib;
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

struct Output {
    pad: gst::Pad,
    ended: bool,
    flow: Result<gst::FlowSuccess, gst::FlowError>,
}

#[derive(Default)]
struct State {
    /// By source id.
    outputs: HashMap<String, Output>,
    caps: Option<gst::Event>,
    segment: Option<gst::Event>,
    /// Sources announced (savant-source-add) whose pad is not there yet.
    announced: HashMap<String, gst::Event>,
}

pub struct SavantDemux {
    sinkpad: gst::Pad,
    state: Mutex<State>,
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
        }
    }
}

impl ObjectImpl for SavantDemux {
    fn constructed(&self) {
        self.parent_constructed();
        self.obj().add_pad(&self.sinkpad).unwrap();
    }
}

impl GstObjectImpl for SavantDemux {}

impl ElementImpl for SavantDemux {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Savant source demux",
                "Generic/Video",
                "Splits a savantmux stream: a src pad src_<source-id> per source, made \
                 when its first frame arrives, EOS when the source ends, removed when \
                 its mux pad is released",
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
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        let result = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            let outputs: Vec<gst::Pad> = {
                let mut state = self.state.lock().unwrap();
                let pads = state.outputs.drain().map(|(_, o)| o.pad).collect();
                *state = State::default();
                pads
            };
            for pad in outputs {
                let _ = pad.set_active(false);
                let _ = self.obj().remove_pad(&pad);
            }
        }
        Ok(result)
    }
}

impl SavantDemux {
    /// The pad of `id`, made (with its sticky events) when it is the first frame.
    fn output(&self, id: &str) -> Result<gst::Pad, gst::FlowError> {
        let (caps, segment, add) = {
            let mut state = self.state.lock().unwrap();
            if let Some(output) = state.outputs.get(id) {
                if output.ended {
                    return Err(gst::FlowError::Eos);
                }
                return Ok(output.pad.clone());
            }
            (
                state.caps.clone(),
                state.segment.clone(),
                state.announced.remove(id),
            )
        };
        let templ = self.obj().pad_template("src_%s").unwrap();
        let pad = gst::Pad::builder_from_template(&templ)
            .name(format!("src_{id}"))
            .build();
        pad.set_active(true).map_err(|_| gst::FlowError::Error)?;
        let stream_id = format!("savantdemux/{id}");
        pad.push_event(gst::event::StreamStart::builder(&stream_id).build());
        for event in [caps, segment].into_iter().flatten() {
            pad.push_event(event);
        }
        self.state.lock().unwrap().outputs.insert(
            id.to_owned(),
            Output {
                pad: pad.clone(),
                ended: false,
                flow: Ok(gst::FlowSuccess::Ok),
            },
        );
        self.obj()
            .add_pad(&pad)
            .map_err(|_| gst::FlowError::Error)?;
        gst::debug!(CAT, imp = self, "source '{id}': pad {}", pad.name());
        if let Some(add) = add {
            pad.push_event(add);
        }
        Ok(pad)
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
        let pad = self.output(&id)?;
        let flow = pad.push(buffer);
        let mut state = self.state.lock().unwrap();
        if let Some(output) = state.outputs.get_mut(&id) {
            output.flow = flow;
        }
        drop(state);
        // A source whose pad nobody linked (yet) is dropped, as tee's
        // allow-not-linked does: pads appear one by one, and the first may well be
        // one the app does not want.
        match flow {
            Err(gst::FlowError::NotLinked) => {
                gst::log!(CAT, imp = self, "source '{id}': not linked, frame dropped");
                Ok(gst::FlowSuccess::Ok)
            }
            other => other,
        }
    }

    fn all_pads(&self) -> Vec<gst::Pad> {
        let state = self.state.lock().unwrap();
        state.outputs.values().map(|o| o.pad.clone()).collect()
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        if let Some((name, id)) = source::parse(&event) {
            return self.source_event(name, &id, event);
        }
        match event.view() {
            EventView::Caps(_) => {
                self.state.lock().unwrap().caps = Some(event.clone());
                self.all_pads().iter().all(|p| p.push_event(event.clone()))
            }
            EventView::Segment(_) => {
                self.state.lock().unwrap().segment = Some(event.clone());
                for pad in self.all_pads() {
                    pad.push_event(event.clone());
                }
                true
            }
            EventView::StreamStart(_) => true,
            EventView::Eos(_) => {
                let open: Vec<gst::Pad> = {
                    let mut state = self.state.lock().unwrap();
                    state
                        .outputs
                        .values_mut()
                        .filter(|o| !o.ended)
                        .map(|o| {
                            o.ended = true;
                            o.pad.clone()
                        })
                        .collect()
                };
                if self.state.lock().unwrap().outputs.is_empty() {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Demux,
                        ("end of stream without a single frame: no source pad was made")
                    );
                    return false;
                }
                for pad in open {
                    pad.push_event(event.clone());
                }
                true
            }
            EventView::FlushStop(_) => {
                {
                    let mut state = self.state.lock().unwrap();
                    for output in state.outputs.values_mut() {
                        output.ended = false;
                        output.flow = Ok(gst::FlowSuccess::Ok);
                    }
                }
                for pad in self.all_pads() {
                    pad.push_event(event.clone());
                }
                true
            }
            _ => {
                let pads = self.all_pads();
                if pads.is_empty() {
                    return gst::Pad::event_default(pad, Some(&*self.obj()), event);
                }
                for pad in pads {
                    pad.push_event(event.clone());
                }
                true
            }
        }
    }

    /// savant-source-add is held until the pad exists; eos ends the pad; delete
    /// removes it.
    fn source_event(&self, name: &str, id: &str, event: gst::Event) -> bool {
        let pad = {
            let mut state = self.state.lock().unwrap();
            match name {
                source::ADD => {
                    if !state.outputs.contains_key(id) {
                        state.announced.insert(id.to_owned(), event);
                        return true;
                    }
                    None
                }
                // The last source's pad ends with the real EOS right after.
                source::EOS => match state.outputs.get_mut(id) {
                    Some(o) => (!o.ended).then(|| {
                        o.ended = !source::is_last(&event);
                        o.pad.clone()
                    }),
                    None => {
                        // A source that ended without a frame still gets its pad, so
                        // that the branch linked to it ends.
                        drop(state);
                        let Ok(pad) = self.output(id) else {
                            return true;
                        };
                        if !source::is_last(&event) {
                            if let Some(o) = self.state.lock().unwrap().outputs.get_mut(id) {
                                o.ended = true;
                            }
                        }
                        Some(pad)
                    }
                },
                _ => {
                    state.announced.remove(id);
                    state.outputs.remove(id).map(|o| o.pad)
                }
            }
        };
        let Some(pad) = pad else {
            return true;
        };
        match name {
            source::EOS => {
                let last = source::is_last(&event);
                pad.push_event(event);
                if !last {
                    pad.push_event(gst::event::Eos::new());
                }
            }
            source::DELETE => {
                pad.push_event(event);
                let _ = pad.set_active(false);
                let _ = self.obj().remove_pad(&pad);
            }
            _ => {
                pad.push_event(event);
            }
        }
        true
    }
}
