//! savantmux's request sink pad: a GstAggregatorPad with a `source-id` property and
//! what the mux knows of the pad's source in this run.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

glib::wrapper! {
    pub struct MuxSinkPad(ObjectSubclass<imp::MuxSinkPad>)
        @extends gst_base::AggregatorPad, gst::Pad, gst::Object;
}

/// The pad's source in the current run; written only on the mux's output thread,
/// except `reset` (a flush on this pad alone, from upstream's thread).
#[derive(Default, Clone)]
pub struct SourceState {
    /// Fixed at the first frame (the pad's `source-id` then).
    pub id: Option<String>,
    /// `savant-source-add` went downstream since the start or the last flush.
    pub announced: bool,
    /// `savant-source-eos` went downstream (or is queued to go).
    pub ended: bool,
    /// The source's own caps (they may differ from the output's in fields that do
    /// not change the memory layout).
    pub caps: Option<gst::Caps>,
    /// Where the source's last frame stood in running time (its own, or for a frame
    /// without a timestamp, the place the mux gave it); none since the start or the
    /// last flush.
    pub last_running_time: Option<gst::ClockTime>,
    /// When the output thread last took a frame of this source, as a count of the
    /// frames it took (0: never): frames at the same running time go out in turn.
    pub taken_at: u64,
}

impl SourceState {
    /// Where a queued `buffer` of this source stands in running time: its own
    /// (`timed`), or for a frame without a timestamp (a decoder of an H.264
    /// elementary stream stamps only its first), one frame after the source's last
    /// (the buffer's duration, else the caps' framerate; neither known: with it),
    /// or the start.
    pub fn place(&self, timed: Option<gst::ClockTime>, buffer: &gst::BufferRef) -> gst::ClockTime {
        if let Some(timed) = timed {
            return timed;
        }
        let Some(last) = self.last_running_time else {
            return gst::ClockTime::ZERO;
        };
        let frame = buffer.duration().or_else(|| {
            let framerate = self
                .caps
                .as_ref()?
                .structure(0)?
                .get::<gst::Fraction>("framerate")
                .ok()?;
            let (n, d) = (framerate.numer(), framerate.denom());
            (n > 0 && d > 0).then(|| {
                gst::ClockTime::SECOND
                    .mul_div_floor(d as u64, n as u64)
                    .unwrap_or(gst::ClockTime::ZERO)
            })
        });
        last.saturating_add(frame.unwrap_or(gst::ClockTime::ZERO))
    }
}

impl MuxSinkPad {
    /// The source id: the property, or the pad's name when it is unset.
    pub fn source_id(&self) -> String {
        self.imp()
            .source_id
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| self.name().to_string())
    }

    pub fn source(&self) -> std::sync::MutexGuard<'_, SourceState> {
        self.imp().source.lock().unwrap()
    }
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct MuxSinkPad {
        pub(super) source_id: Mutex<Option<String>>,
        pub(super) source: Mutex<SourceState>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MuxSinkPad {
        const NAME: &'static str = "GstSavantMuxSinkPad";
        type Type = super::MuxSinkPad;
        type ParentType = gst_base::AggregatorPad;
    }

    impl ObjectImpl for MuxSinkPad {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
                vec![glib::ParamSpecString::builder("source-id")
                    .nick("Source id")
                    .blurb(
                        "The id of this pad's source, given to its frames (frame.source_id) \
                         and to the source hooks; unset: the pad's name. Read when the \
                         source's first frame arrives",
                    )
                    .build()]
            });
            PROPERTIES.as_ref()
        }

        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            if pspec.name() == "source-id" {
                *self.source_id.lock().unwrap() = value.get().expect("type checked upstream");
            }
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            match pspec.name() {
                "source-id" => self.obj().source_id().to_value(),
                _ => unimplemented!(),
            }
        }
    }

    impl GstObjectImpl for MuxSinkPad {}
    impl PadImpl for MuxSinkPad {}

    impl AggregatorPadImpl for MuxSinkPad {
        /// A flush of this pad (a flushing seek, or one sent to this source alone):
        /// its next frame is announced again, so a stage sees `savant-source-add`
        /// before the source's first frame after any seek.
        fn flush(
            &self,
            aggregator: &gst_base::Aggregator,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            {
                let mut source = self.source.lock().unwrap();
                source.announced = false;
                source.ended = false;
                source.last_running_time = None;
            }
            self.parent_flush(aggregator)
        }
    }
}
