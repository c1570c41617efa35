//! Caps and formats of a Python stage: the template caps, caps and accept-caps
//! queries narrowed to the stage's formats in its order of preference, and the
//! `formats` / `memory` settings that narrow them once the code is loaded.

use std::sync::Mutex;

use gst::glib;
use gst::prelude::*;

use super::runtime::{InstanceSet, StageRuntime};
use crate::python::loader::StageError;

/// Which memory a stage takes frames in (savantpyfunc's `memory`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantFrameMemory")]
pub enum FrameMemory {
    #[default]
    #[enum_value(
        name = "System memory preferred, CUDA memory (video/x-raw(memory:CUDAMemory)) accepted",
        nick = "auto"
    )]
    Auto,
    #[enum_value(
        name = "System memory only: GPU decoders download for the stage (numpy, OpenCV)",
        nick = "system"
    )]
    System,
    #[enum_value(name = "CUDA memory only (CuPy, PyTorch)", nick = "cuda")]
    Cuda,
}

impl StageRuntime {
    /// The element takes its formats in CUDA memory too (`memory:CUDAMemory`),
    /// after system memory in its order of preference.
    pub fn with_cuda_frames(mut self) -> Self {
        self.cuda = true;
        self.allowed_caps = Mutex::new(formats_caps(
            self.supported,
            Memories {
                system: true,
                cuda: true,
            },
        ));
        self
    }

    /// Caps and accept-caps queries on either pad (both proxy caps): what downstream
    /// and the templates allow, narrowed to the stage's formats and in the stage's
    /// order of preference, so that a source offering many formats picks the first
    /// of ours it has.
    pub fn pad_query(
        &self,
        pad: &gst::Pad,
        parent: Option<&impl IsA<gst::Object>>,
        query: &mut gst::QueryRef,
    ) -> bool {
        let allowed = self.allowed_caps.lock().unwrap().clone();
        if let gst::QueryViewMut::AcceptCaps(q) = query.view_mut() {
            if !q.caps().can_intersect(&allowed) {
                q.set_result(false);
                return true;
            }
        }
        if !gst::Pad::query_default(pad, parent, query) {
            return false;
        }
        if let gst::QueryViewMut::Caps(q) = query.view_mut() {
            if let Some(result) = q.result_owned() {
                q.set_result(&allowed.intersect_with_mode(&result, gst::CapsIntersectMode::First));
            }
        }
        true
    }

    /// Narrows negotiation to the `formats` property, else the class's `formats`,
    /// and to `memory`; an unknown or unsupported name is an error naming the
    /// supported ones.
    pub(super) fn restrict_formats(
        &self,
        property: Option<&str>,
        instances: &InstanceSet,
        memory: FrameMemory,
    ) -> Result<(), StageError> {
        let system = memory != FrameMemory::Cuda;
        let cuda = self.cuda && memory != FrameMemory::System;
        if self.cuda && memory == FrameMemory::Cuda {
            if let Err(e) = crate::cuda::available() {
                return Err(StageError::plain(format!(
                    "memory=cuda, but CUDA is not available here: {e}"
                )));
            }
        }
        let (names, origin): (Vec<String>, &str) = match property {
            Some(list) => (
                list.split(',')
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect(),
                "the formats property",
            ),
            None => match instances.first().and_then(|h| h.formats.clone()) {
                Some(names) => (names, "the class's formats attribute"),
                None => {
                    *self.allowed_caps.lock().unwrap() =
                        formats_caps(self.supported, Memories { system, cuda });
                    return Ok(());
                }
            },
        };
        if let Some(bad) = names.iter().find(|n| !self.supported.contains(&n.as_str())) {
            return Err(StageError::plain(format!(
                "{origin}: format {bad:?} is not one this element takes ({})",
                self.supported.join(", ")
            )));
        }
        if names.is_empty() {
            return Err(StageError::plain(format!("{origin} names no format")));
        }
        // The element's order of preference among the names given.
        let chosen: Vec<&str> = self
            .supported
            .iter()
            .copied()
            .filter(|f| names.iter().any(|n| n == f))
            .collect();
        *self.allowed_caps.lock().unwrap() = formats_caps(&chosen, Memories { system, cuda });
        Ok(())
    }
}

/// Which memories caps offer frames in, system memory first.
#[derive(Debug, Clone, Copy)]
pub(super) struct Memories {
    pub system: bool,
    pub cuda: bool,
}

/// Raw video in `formats` (a list, in that order), in the memories `memories`.
pub(super) fn formats_caps(formats: &[&str], memories: Memories) -> gst::Caps {
    let Memories { system, cuda } = memories;
    let mut caps = if system {
        gst::Caps::builder("video/x-raw")
            .field("format", gst::List::new(formats.iter().copied()))
            .build()
    } else {
        gst::Caps::new_empty()
    };
    if cuda {
        caps.merge(
            gst::Caps::builder("video/x-raw")
                .features([crate::cuda::CAPS_FEATURE_CUDA_MEMORY])
                .field("format", gst::List::new(formats.iter().copied()))
                .build(),
        );
    }
    caps
}
