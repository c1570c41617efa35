//! What every element of the plugin writes the same way in its `ElementImpl`: its
//! metadata and its pad templates (and for the Python stages, the `ObjectImpl`
//! functions their parts answer), each made once in a `static` of the element's
//! own (a macro, because a generic function's static is shared by every
//! instantiation), and for the Python stages the state changes their `Lifecycle`
//! says (stage/lifecycle.rs). Declared first in lib.rs, for the macros' textual
//! scope; in the layers, between the stage machinery and the elements.

/// `ElementImpl::metadata`: long name, class, description; the plugin's author.
macro_rules! element_metadata {
    ($long_name:expr, $klass:expr, $description:expr $(,)?) => {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static ELEMENT_METADATA: std::sync::LazyLock<gst::subclass::ElementMetadata> =
                std::sync::LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        $long_name,
                        $klass,
                        $description,
                        "gst-savant developers",
                    )
                });
            Some(&*ELEMENT_METADATA)
        }
    };
}

/// `ElementImpl::pad_templates`: the templates `$templates` makes, made once.
macro_rules! element_pad_templates {
    ($templates:expr) => {
        fn pad_templates() -> &'static [gst::PadTemplate] {
            static PAD_TEMPLATES: std::sync::LazyLock<Vec<gst::PadTemplate>> =
                std::sync::LazyLock::new(|| $templates);
            PAD_TEMPLATES.as_ref()
        }
    };
}

/// `ObjectImpl::set_property`, `property` and `constructed` of a Python stage
/// element, handed to its parts (stage/parts.rs, `HasStageParts`).
macro_rules! stage_object_impl {
    () => {
        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            $crate::stage::parts::HasStageParts::stage(self).set_property(pspec, value);
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            $crate::stage::parts::property(self, pspec)
        }

        fn constructed(&self) {
            self.parent_constructed();
            $crate::stage::parts::HasStageParts::stage(self).attach_to(self.obj().upcast_ref());
        }
    };
}

/// `ElementImpl::change_state` through the element's `Lifecycle`
/// (stage/lifecycle.rs: prepare, start, unblock, stop).
macro_rules! element_change_state_by_lifecycle {
    () => {
        fn change_state(
            &self,
            transition: gst::StateChange,
        ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
            $crate::stage::lifecycle::change_state(self, transition)
        }
    };
}
