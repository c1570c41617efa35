//! `savantdrawfunc` implementation.
//!
//! Per buffer: the draw spec turns the buffer's objects into a display list (Rust,
//! no GIL); a Python hook, if any, adds to it through an Artist (one GIL
//! acquisition, calls only record); then the list is rasterized in place with the
//! GIL released. Without a hook, drawing never takes the GIL.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use pyo3::prelude::*;

use super::spec_bridge::{py_to_value, value_to_py};
use crate::draw::artist::Artist;
use crate::draw::canvas::{packed_order, Canvas, Chroma, Planes};
use crate::draw::ops::{render, DrawOp};
use crate::draw::spec::{parse_object_spec, DrawSpec, SpecOverride};
use crate::frame::layout::FrameLayout;
use crate::frame::objects::{self, ObjectData};
use crate::frame::Frame;
use crate::python::loader::{StageError, UserInstance};
use crate::stage::call::{self, failure, raised, verdict_of, Outcome, Protocol, Verdict, Verdicts};
use crate::stage::lifecycle::Lifecycle;
use crate::stage::pads::{self, StagePads};
use crate::stage::parts::{HasStageParts, StageParts};
use crate::stage::runtime::StageRuntime;
use crate::stage::settings::{Blurbs, OwnProperties, StageSettings};
use crate::stage::stats::StageStats;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantdrawfunc",
        gst::DebugColorFlags::empty(),
        Some("Savant drawing stage"),
    )
});

const DEFAULT_FUNCTION: &str = "draw";
/// What it draws on, in its order of preference (as savantpyfunc's: common, cheap
/// formats first).
const FORMATS: &[&str] = &["RGBA", "BGRx", "BGR", "I420", "NV12", "BGRA", "RGBx", "RGB"];

#[derive(Debug, Clone, Default)]
pub struct Settings {
    draw_spec: Option<String>,
}

impl OwnProperties for Settings {
    fn set(&mut self, name: &str, value: &glib::Value) {
        match name {
            "draw-spec" => self.draw_spec = value.get().unwrap(),
            _ => unimplemented!(),
        }
    }

    fn get(&self, name: &str) -> glib::Value {
        match name {
            "draw-spec" => self.draw_spec.to_value(),
            _ => unimplemented!(),
        }
    }
}

pub struct DrawFunc {
    /// Pads, settings and runtime.
    stage: StageParts<Settings>,
    /// Parsed at start.
    spec: Mutex<Option<Arc<DrawSpec>>>,
}

/// savantdrawfunc's way of calling Python (the rest of the per-frame protocol is
/// `stage::call`): `override_draw_spec(object, spec)` for each object with a spec,
/// then `draw(frame, artist)`. Before the GIL it reads the frame's objects once and,
/// unless the hook overrides the spec, lays out the spec's drawing.
struct DrawCall<'a> {
    spec: &'a DrawSpec,
    /// The frame's objects as they came (dropped ones put back).
    objects: Vec<ObjectData>,
    /// The drawing, the spec's first.
    ops: Vec<DrawOp>,
    /// The spec's drawing is still to be laid out (the hook overrides it).
    spec_pending: bool,
    /// The buffer's checked layout, for the canvas.
    layout: Option<FrameLayout>,
}

/// What the hook left for a frame that passed: its drawing, and what
/// `override_draw_spec` made of each object's spec (empty without one).
struct Drawing {
    ops: Vec<DrawOp>,
    overrides: Vec<SpecOverride>,
}

impl Protocol for DrawCall<'_> {
    type Kept = Drawing;
    const NAME: &'static str = "draw";

    fn prepare(
        &mut self,
        hooks: Option<&UserInstance>,
        buffers: &[gst::Buffer],
        caps_layout: &FrameLayout,
    ) {
        self.objects = objects::read(&buffers[0]);
        // A buffer whose layout does not check out fails in the protocol (a stream
        // error) before anything is drawn.
        self.layout = caps_layout.for_buffer(&buffers[0]).ok();
        self.spec_pending = hooks.is_some_and(|hooks| hooks.override_draw_spec.is_some());
        if !self.spec_pending {
            self.spec.ops(&self.objects, &mut self.ops);
        }
    }

    fn call<'py>(
        &mut self,
        py: Python<'py>,
        hooks: &UserInstance,
        frames: &[Bound<'py, Frame>],
    ) -> Verdicts<Drawing> {
        smallvec::smallvec![self.call_one(py, hooks, &frames[0])]
    }
}

impl DrawCall<'_> {
    /// Savant's order: each object's spec first (on the objects as they came), then
    /// the frame's draw hook. A False return drops the frame.
    fn call_one(
        &self,
        py: Python<'_>,
        hooks: &UserInstance,
        frame: &Bound<'_, Frame>,
    ) -> Verdict<Drawing> {
        let overrides = match &hooks.override_draw_spec {
            Some(override_fn) => {
                match call_overrides(py, hooks, override_fn, frame, &self.objects, self.spec) {
                    Ok(overrides) => overrides,
                    Err(error) => return Verdict::Failed(error),
                }
            }
            None => Vec::new(),
        };
        let artist = match Bound::new(py, Artist::default()) {
            Ok(artist) => artist,
            Err(e) => return Verdict::Failed(failure(py, hooks, "creating the artist", &e)),
        };
        match hooks.process.bind(py).call1((frame, &artist)) {
            Err(e) => Verdict::Failed(raised(py, hooks, &e)),
            Ok(result) => verdict_of(hooks, &result, || Drawing {
                ops: artist.get().take(),
                overrides,
            }),
        }
    }

    /// The whole drawing for a frame that goes on: the spec's (as the hook's
    /// `override_draw_spec` left it, if it passed), then the hook's.
    fn finish(&mut self, drawing: Option<Drawing>) {
        match drawing {
            Some(Drawing { ops, overrides }) => {
                if self.spec_pending {
                    self.spec.ops_with(&self.objects, &overrides, &mut self.ops);
                }
                self.ops.extend(ops);
            }
            // No hook, or a failed one let through (on-error=skip): the spec's
            // drawing still happens as configured; the hook's does not.
            None => {
                if self.spec_pending {
                    self.spec.ops(&self.objects, &mut self.ops);
                }
            }
        }
    }
}

impl DrawFunc {
    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let element = self.obj();
        let element = element.upcast_ref::<gst::Element>();
        let Some(spec) = self.spec.lock().unwrap().clone() else {
            return Err(gst::FlowError::Flushing);
        };
        // Savant's `condition.tag`: a frame without the tag is not drawn on, and its
        // hook is not called (Savant's draw function returns before drawing).
        if let Some(tag) = &spec.condition_tag {
            let tagged = crate::frame::attributes::read(&buffer).is_some_and(|a| a.has_field(tag));
            if !tagged {
                return self.stage.srcpad.push(buffer);
            }
        }
        let mut draw = DrawCall {
            spec: &spec,
            objects: Vec::new(),
            ops: Vec::new(),
            spec_pending: false,
            layout: None,
        };
        let outcome = call::run(
            &self.stage.runtime,
            element,
            &mut draw,
            smallvec::smallvec![buffer],
            0,
            false,
        )?
        .pop();
        let (mut buffer, drawing) = match outcome {
            Some(Outcome::Push(buffer, drawing)) => (buffer, drawing),
            Some(Outcome::Dropped) => return Ok(gst::FlowSuccess::Ok),
            Some(Outcome::Failed) | None => return Err(gst::FlowError::Error),
        };
        draw.finish(drawing);
        let (Some(layout), false) = (draw.layout, draw.ops.is_empty()) else {
            return self.stage.srcpad.push(buffer);
        };
        let started = Instant::now();
        {
            // Copies the pixels only if the buffer is shared (a tee, a kept frame).
            let buffer = buffer.make_mut();
            let Ok(mut map) = buffer.map_writable() else {
                gst::element_error!(
                    element,
                    gst::ResourceError::Write,
                    ("cannot map the frame writable")
                );
                return Err(gst::FlowError::Error);
            };
            let Some(mut canvas) = canvas(&layout, map.as_mut_slice()) else {
                gst::element_error!(
                    element,
                    gst::StreamError::Format,
                    (
                        "cannot draw on {} in {} bytes",
                        layout.format_name(),
                        map.size()
                    )
                );
                return Err(gst::FlowError::Error);
            };
            render(&mut canvas, &draw.ops);
        }
        self.stage
            .runtime
            .stats
            .draw_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
        self.stage.srcpad.push(buffer)
    }

    // READY -> PAUSED: parse the spec, then load the hook if there is one.
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let (run, Settings { draw_spec: spec }) = self.stage.start_snapshot();
        // As in Savant: without a spec, a draw hook draws only what it draws, and
        // no hook means Savant's default drawing of every object.
        let spec = match spec.as_deref() {
            None | Some("") if run.code.is_some() => DrawSpec::nothing(),
            spec => DrawSpec::load(spec.unwrap_or("")).map_err(|e| {
                gst::error_msg!(gst::LibraryError::Settings, ("invalid draw-spec: {}", e))
            })?,
        };
        *self.spec.lock().unwrap() = Some(Arc::new(spec));
        self.stage.runtime.start(self.obj().upcast_ref(), run)
    }
}

/// Savant's `override_draw_spec(object, spec)`, for each object that has a spec:
/// `spec` is its YAML as a dict (None for the built-in default). The function may
/// change that dict and return None, return another dict, or return False to draw
/// nothing for the object. What it returns is checked like the spec file.
fn call_overrides(
    py: Python<'_>,
    hooks: &UserInstance,
    override_fn: &Py<PyAny>,
    frame: &Bound<'_, Frame>,
    objects: &[ObjectData],
    spec: &DrawSpec,
) -> Result<Vec<SpecOverride>, StageError> {
    let raised = |e: PyErr| {
        StageError::python(
            py,
            format!("module {}: override_draw_spec() raised", hooks.module_name),
            &e,
        )
    };
    let bad = |e: String| {
        StageError::plain(format!(
            "module {}: override_draw_spec() returned a spec that does not check out: {e}",
            hooks.module_name
        ))
    };
    let list = frame.getattr("objects").map_err(raised)?;
    let mut overrides = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        let Some((source, layout)) = spec.source_for(object) else {
            overrides.push(SpecOverride::Keep);
            continue;
        };
        let py_object = list.get_item(i).map_err(raised)?;
        let given = value_to_py(py, source).map_err(raised)?;
        let returned = override_fn
            .bind(py)
            .call1((py_object, &given))
            .map_err(raised)?;
        let chosen = if returned.is(pyo3::types::PyBool::new(py, false)) {
            overrides.push(SpecOverride::Skip);
            continue;
        } else if returned.is_none() {
            given
        } else {
            returned
        };
        let value = py_to_value(&chosen, "override_draw_spec()").map_err(bad)?;
        overrides.push(if value.is_null() {
            SpecOverride::Keep
        } else {
            SpecOverride::Replace(Box::new(
                parse_object_spec(
                    &value,
                    &format!("override_draw_spec({:?})", object.label),
                    layout,
                )
                .map_err(|e| bad(e.to_string()))?,
            ))
        });
    }
    Ok(overrides)
}

/// The frame's planes as a canvas, for the formats this element accepts: the
/// checked layout's planes cut out of the mapped bytes, so drawing stays inside them.
fn canvas<'a>(layout: &FrameLayout, data: &'a mut [u8]) -> Option<Canvas<'a>> {
    let [first, second, third] = layout.split_planes_mut(data)?;
    let stride = |i: usize| layout.planes[i].stride;
    let planes = match layout.format {
        gst_video::VideoFormat::I420 => Planes::Yuv420 {
            y: first,
            y_stride: stride(0),
            chroma: Chroma::Planar {
                u: second,
                u_stride: stride(1),
                v: third,
                v_stride: stride(2),
            },
        },
        gst_video::VideoFormat::Nv12 => Planes::Yuv420 {
            y: first,
            y_stride: stride(0),
            chroma: Chroma::Interleaved {
                uv: second,
                uv_stride: stride(1),
            },
        },
        format => Planes::Packed {
            data: first,
            stride: stride(0),
            order: packed_order(format)?,
        },
    };
    Some(Canvas {
        width: i32::try_from(layout.width).ok()?,
        height: i32::try_from(layout.height).ok()?,
        planes,
    })
}

impl HasStageParts for DrawFunc {
    type Own = Settings;

    fn stage(&self) -> &StageParts<Settings> {
        &self.stage
    }
}

impl StagePads for DrawFunc {
    fn on_buffer(
        &self,
        pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.sink_chain(pad, buffer)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for DrawFunc {
    const NAME: &'static str = "GstSavantDrawFunc";
    type Type = super::DrawFunc;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        Self {
            stage: StageParts::new::<Self>(
                klass,
                DEFAULT_FUNCTION,
                StageRuntime::new(
                    *CAT,
                    "savantdrawfunc-stats",
                    StageStats::for_drawing(),
                    FORMATS,
                ),
            ),
            spec: Mutex::new(None),
        }
    }
}

impl ObjectImpl for DrawFunc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = vec![glib::ParamSpecString::builder("draw-spec")
                .nick("Draw spec")
                .blurb("Draw spec YAML (inline or a file path, relative paths from the working directory): Savant's layout (rendered_objects.<unit>.<label> with bbox, label, central_dot, blur, and condition.tag to draw only on frames with that attribute; a module YAML's parameters.draw_func block) or default/labels; placeholders take Python format specs ({confidence:.2f}). Unset: Savant's default, a green box and a \"label #track\" label 10 px above it per object")
                .mutable_ready()
                .build()];
            properties.extend(StageSettings::properties(DEFAULT_FUNCTION, &Blurbs {
                module: "Optional Python draw hook: a file path or a dotted module name. Unset: drawing never takes the GIL",
                function: "The draw hook, called as draw(frame, artist); returns None/True (pass) or False (drop)",
                on_error: "What an exception in the hook does: fail (ERROR, stop), skip (WARNING, draw the spec only), drop (WARNING, drop the buffer)",
                formats: "Comma-separated pixel formats the stage takes, e.g. BGRx or RGBA,I420 (a subset of the sink template). Unset: the hook class's `formats` attribute, else every format it draws on",
                stats: crate::stage::stats::DRAW_FIELDS,
            }));
            properties
        });
        PROPERTIES.as_ref()
    }

    stage_object_impl!();
}

impl GstObjectImpl for DrawFunc {}

impl ElementImpl for DrawFunc {
    element_metadata!(
        "Savant draw function",
        "Filter/Effect/Video",
        "Draws objects (boxes, labels, dots, blur) per a draw spec in Rust, plus a Python draw hook",
    );

    element_pad_templates!(pads::stage_templates(FORMATS, false));

    element_change_state_by_lifecycle!();
}

impl Lifecycle for DrawFunc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        DrawFunc::start(self)
    }

    fn stop(&self) {
        self.stage.runtime.stop(self.obj().upcast_ref());
        *self.spec.lock().unwrap() = None;
    }
}
