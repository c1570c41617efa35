//! savantmux's request sink pad, with its `source-id` property.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

glib::wrapper! {
    pub struct MuxSinkPad(ObjectSubclass<imp::MuxSinkPad>) @extends gst::Pad, gst::Object;
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
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct MuxSinkPad {
        pub(super) source_id: Mutex<Option<String>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MuxSinkPad {
        const NAME: &'static str = "GstSavantMuxSinkPad";
        type Type = super::MuxSinkPad;
        type ParentType = gst::Pad;
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
}
