//! Sink events of a Python stage: caps (the frame layout and `on_caps`), the event
//! hooks (`on_event`, `on_eos`, savantmux's source events), statistics at EOS; an
//! event's structure as Python sees it.

use std::sync::Arc;

use gst::glib;
use gst::prelude::*;
use pyo3::prelude::*;

use super::log_bridge;
use super::policy::OnError;
use super::runtime::{call_hook, with_python, InstanceSet, NegotiatedCaps, StageRuntime};
use crate::frame::layout::FrameLayout;
use crate::frame::{source, CapsInfo};
use crate::python::loader::{StageError, UserInstance, SOURCE_HOOKS};

impl StageRuntime {
    /// Handles a sink event: caps, Python's event hooks, stats at EOS; forwards it.
    pub fn sink_event(&self, element: &gst::Element, pad: &gst::Pad, event: gst::Event) -> bool {
        let cat = self.cat;
        let (instances, on_error): (InstanceSet, _) = match self.state.lock().unwrap().as_ref() {
            Some(state) => (state.instances.clone(), state.on_error),
            None => (Arc::new([]), OnError::Fail),
        };

        let mut caps_info = None;
        if let gst::EventView::Caps(caps) = event.view() {
            let caps = caps.caps();
            let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
                gst::element_error!(
                    element,
                    gst::CoreError::Negotiation,
                    ("caps {} are not raw video", caps)
                );
                return false;
            };
            gst::debug!(cat, obj = element, "caps {caps}");
            let layout = FrameLayout::from_caps(&info, caps);
            if layout.cuda {
                if let Err(e) = crate::cuda::available() {
                    gst::element_error!(
                        element,
                        gst::CoreError::Negotiation,
                        (
                            "caps {} need CUDA, which is not available here: {}",
                            caps,
                            e
                        )
                    );
                    return false;
                }
            }
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.caps = Some(Arc::new(NegotiatedCaps { layout }));
                state.last_caps = Some(caps.to_owned());
            }
            caps_info = Some((info, caps.to_owned()));
        }
        let is_eos = matches!(event.view(), gst::EventView::Eos(_));
        // savantmux's source events: (index into UserInstance::on_source, source id).
        let generation = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |s| s.generation);
        match (event.view(), source::parse(&event)) {
            (gst::EventView::FlushStop(_), _) => self.told.lock().unwrap().ids.clear(),
            // Announced here or by its first frame, whichever comes first.
            (_, Some((source::ADD, id)))
                if !self.announce_event_source(element, &instances, generation, &id, on_error) =>
            {
                return false;
            }
            (_, Some((source::DELETE, id))) => {
                self.told.lock().unwrap().ids.remove(&id);
            }
            _ => {}
        }
        // on_source_add ran in announce_event_source.
        let source_event = source::parse(&event)
            .filter(|(name, _)| *name != source::ADD)
            .map(|(name, id)| {
                let index = [source::ADD, source::EOS, source::DELETE]
                    .iter()
                    .position(|n| *n == name)
                    .expect("parse returns one of these");
                (index, id)
            });

        // Every instance (one per worker) learns of caps, events and EOS.
        let wants_python = instances.iter().any(|hooks| {
            hooks.on_event.is_some()
                || (caps_info.is_some() && hooks.on_caps.is_some())
                || (is_eos && hooks.on_eos.is_some())
                || source_event
                    .as_ref()
                    .is_some_and(|(i, _)| hooks.on_source[*i].is_some())
        });
        if wants_python {
            let _logging = log_bridge::enter(element, cat);
            let failure = with_python(|py| {
                instances.iter().try_for_each(|hooks| {
                    call_event_hooks(
                        py,
                        cat,
                        element,
                        hooks,
                        &event,
                        &caps_info,
                        is_eos,
                        &source_event,
                    )
                })
            })
            .err();
            // Events are never dropped: skip and drop both let the event go on.
            if let Some(error) = failure {
                if self.on_hook_error(element, &error, on_error) == OnError::Fail {
                    return false;
                }
            }
        }
        if is_eos {
            self.flush_repeated_warning(element);
            self.post_stats(element);
            gst::info!(
                cat,
                obj = element,
                "{}{}",
                self.stats.summary(),
                upstream_queue_summary(pad)
            );
        }
        gst::Pad::event_default(pad, Some(element), event)
    }
}

/// An event's structure as Python sees it in `on_event`: scalars as Python values,
/// caps as their string, nested structures as dicts, segments as dicts of their
/// fields, lists as lists; never GStreamer's escaped serialization of a string.
/// Nested values count one level each, up to `value_text::MAX_NESTING` (an upstream
/// element's event may nest without limit; this walk recurses).
fn event_dict<'py>(
    py: Python<'py>,
    structure: Option<&gst::StructureRef>,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    event_dict_at(py, structure, 0)
}

fn event_dict_at<'py>(
    py: Python<'py>,
    structure: Option<&gst::StructureRef>,
    depth: usize,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let dict = pyo3::types::PyDict::new(py);
    for (name, value) in structure.into_iter().flat_map(|s| s.iter()) {
        let item = event_value(py, value, depth + 1)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("'{name}': {e}")))?;
        dict.set_item(name.as_str(), item)?;
    }
    Ok(dict)
}

fn event_value<'py>(
    py: Python<'py>,
    value: &glib::Value,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    if depth > crate::frame::value_text::MAX_NESTING {
        return Err(pyo3::exceptions::PyValueError::new_err(
            crate::frame::value_text::TextError::TooDeep.to_string(),
        ));
    }
    if value.type_() == gst::Caps::static_type() {
        // Bounded: caps whose fields nest structures double their text per level.
        crate::frame::value_text::text_size(value)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("(GstCaps) {e}")))?;
        let text = value
            .get::<gst::Caps>()
            .map(|caps| caps.to_string())
            .unwrap_or_default();
        return Ok(text.into_pyobject(py)?.into_any());
    }
    if let Ok(structure) = value.get::<gst::Structure>() {
        return Ok(event_dict_at(py, Some(&structure), depth)?.into_any());
    }
    if let Ok(segment) = value.get::<gst::Segment>() {
        let dict = pyo3::types::PyDict::new(py);
        dict.set_item("format", format!("{:?}", segment.format()).to_lowercase())?;
        dict.set_item("rate", segment.rate())?;
        dict.set_item("applied-rate", segment.applied_rate())?;
        let position = |v: i64| (v >= 0).then_some(v as u64);
        dict.set_item("start", position(segment.start().value()))?;
        dict.set_item("stop", position(segment.stop().value()))?;
        dict.set_item("time", position(segment.time().value()))?;
        dict.set_item("position", position(segment.position().value()))?;
        dict.set_item("duration", position(segment.duration().value()))?;
        dict.set_item("base", position(segment.base().value()))?;
        dict.set_item("offset", position(segment.offset().value()))?;
        return Ok(dict.into_any());
    }
    if let Ok(list) = value.get::<gst::List>() {
        let items = list
            .iter()
            .map(|v| event_value(py, v, depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(pyo3::types::PyList::new(py, items)?.into_any());
    }
    if let Ok(array) = value.get::<gst::Array>() {
        let items = array
            .iter()
            .map(|v| event_value(py, v, depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(pyo3::types::PyList::new(py, items)?.into_any());
    }
    if value.type_().is_a(glib::Type::ENUM) || value.type_().is_a(glib::Type::FLAGS) {
        // GStreamer's name for it ("GST_STREAM_FLAG_NONE", "time"), unquoted.
        let text = value.serialize().map(|s| s.to_string()).unwrap_or_default();
        return Ok(text.into_pyobject(py)?.into_any());
    }
    crate::frame::values::to_py(py, value)
}

#[allow(clippy::too_many_arguments)]
fn call_event_hooks(
    py: Python<'_>,
    cat: gst::DebugCategory,
    element: &gst::Element,
    hooks: &UserInstance,
    event: &gst::Event,
    caps: &Option<(gst_video::VideoInfo, gst::Caps)>,
    is_eos: bool,
    source_event: &Option<(usize, String)>,
) -> Result<(), StageError> {
    if let Some(on_event) = &hooks.on_event {
        let name = event.type_().name();
        let structure = event_dict(py, event.structure())
            .map_err(|e| StageError::python(py, "on_event", &e))?;
        gst::log!(cat, obj = element, "calling on_event({name})");
        call_hook(py, hooks, "on_event", on_event, (name.as_str(), structure))?;
    }
    if let (Some(on_caps), Some((info, caps))) = (&hooks.on_caps, caps) {
        gst::log!(cat, obj = element, "calling on_caps");
        let info = Bound::new(py, CapsInfo::new(info, caps))
            .map_err(|e| StageError::python(py, "on_caps", &e))?;
        call_hook(py, hooks, "on_caps", on_caps, (info,))?;
    }
    if let (true, Some(on_eos)) = (is_eos, &hooks.on_eos) {
        gst::log!(cat, obj = element, "calling on_eos");
        call_hook(py, hooks, "on_eos", on_eos, ())?;
    }
    if let Some((index, id)) = source_event {
        if let Some(hook) = &hooks.on_source[*index] {
            let name = SOURCE_HOOKS[*index];
            gst::log!(cat, obj = element, "calling {name}({id})");
            call_hook(py, hooks, name, hook, (id.as_str(),))?;
        }
    }
    Ok(())
}

/// "; queue ahead (q) held at most N of M buffers" when a savantqueue feeds `sinkpad`
/// (any element whose `stats` report `max-level-buffers`: no element type named).
fn upstream_queue_summary(sinkpad: &gst::Pad) -> String {
    let queue = sinkpad.peer().and_then(|pad| pad.parent_element());
    let Some(queue) = queue else {
        return String::new();
    };
    let is_stats = queue
        .find_property("stats")
        .is_some_and(|p| p.value_type() == gst::Structure::static_type());
    if !is_stats {
        return String::new();
    }
    let stats = queue.property::<gst::Structure>("stats");
    if !stats.has_field("max-level-buffers") {
        return String::new();
    }
    format!(
        "; queue ahead ({}) held at most {} of {} buffers",
        queue.name(),
        stats.get::<u64>("max-level-buffers").unwrap_or(0),
        stats.get::<u32>("length").unwrap_or(0)
    )
}
