//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`, never in a
//! release build). Each takes arbitrary bytes and drives one reader of untrusted
//! input the way a stage drives it: metadata other elements attached to a buffer,
//! module YAML with interpolation, draw specs with their label format strings, and
//! the caps text of `Frame.from_buffer`; the metadata also as savantpublish's JSON
//! message (which must parse).
//!
//! Metadata is built from the bytes as values (not parsed from text): a C producer
//! hands us GstStructures directly, so the fuzzer must reach nesting and sizes that
//! GStreamer's own text parser would refuse or overflow on first.

use std::sync::Once;

use gst::glib;
use gst_video::VideoRegionOfInterestMeta;
use pyo3::prelude::*;

use crate::draw::canvas::{packed_order, Canvas, Planes};
use crate::draw::ops::{render, DrawOp};
use crate::draw::spec::DrawSpec;
use crate::frame::{attributes, objects, value_text, Access, Frame};
use crate::module::config::ModuleConfig;
use crate::publish::message;

/// Deeper than the readers accept (32), so the fuzzer finds where the bound is kept.
const MAX_BUILD_DEPTH: usize = 48;
const FRAME_SIZE: (u32, u32) = (64, 48);

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initializes");
        attributes::register();
        objects::register();
        crate::frame::source::register();
        crate::python::interpreter::ensure_initialized().expect("Python starts");
    });
}

/// The fuzzer's bytes, read front to back; zeros once they run out, so every
/// recursion ends.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.byte())
    }

    fn text(&mut self) -> String {
        let n = usize::from(self.byte() % 48).min(self.0.len());
        let (text, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8_lossy(text).into_owned()
    }

    /// A name GStreamer accepts for a structure or a field: known ones most of the
    /// time, so the readers' own fields are hit.
    fn name(&mut self) -> String {
        const KNOWN: &[&str] = &[
            "detection",
            "savant-object",
            "savant-object-attributes",
            "confidence",
            "track-id",
            "model",
            "label",
            "objects",
            "width",
            "height",
            "id",
            "source-id",
        ];
        let pick = self.byte();
        if let Some(known) = KNOWN.get(usize::from(pick % 16)) {
            return (*known).to_owned();
        }
        let tail: String = self
            .text()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        format!("f{tail}")
    }

    fn value(&mut self, depth: usize) -> glib::SendValue {
        use glib::value::ToSendValue;
        let kind = if depth >= MAX_BUILD_DEPTH {
            0
        } else {
            self.byte() % 14
        };
        match kind {
            0 => i32::from_le_bytes(self.bytes()).to_send_value(),
            1 => i64::from_le_bytes(self.bytes()).to_send_value(),
            2 => u64::from_le_bytes(self.bytes()).to_send_value(),
            3 => f64::from_le_bytes(self.bytes()).to_send_value(),
            4 => f32::from_le_bytes(self.bytes()).to_send_value(),
            5 => (self.byte() & 1 == 1).to_send_value(),
            6 => self.text().to_send_value(),
            7 => gst::Array::new(self.values(depth)).to_send_value(),
            8 => gst::List::new(self.values(depth)).to_send_value(),
            9 => self.structure(depth + 1).to_send_value(),
            10 => gst::Caps::builder_full()
                .structure(self.structure(depth + 1))
                .build()
                .to_send_value(),
            11 => {
                let [n, d] = [self.byte(), self.byte()];
                gst::Fraction::new(i32::from(n), i32::from(d).max(1)).to_send_value()
            }
            12 => glib::Bytes::from_owned(self.text().into_bytes()).to_send_value(),
            _ => Option::<String>::None.to_send_value(),
        }
    }

    fn values(&mut self, depth: usize) -> Vec<glib::SendValue> {
        let n = self.byte() % 6;
        (0..n).map(|_| self.value(depth + 1)).collect()
    }

    fn structure(&mut self, depth: usize) -> gst::Structure {
        let mut structure = gst::Structure::new_empty(self.name());
        for _ in 0..self.byte() % 6 {
            let name = self.name();
            let value = self.value(depth);
            structure.set_value(name, value);
        }
        structure
    }
}

/// Frame attributes and ROI metas (with params, as detectors and savantpyfunc write
/// them) built from `data`, then read as a stage reads them: objects restored and
/// listed, attributes rendered as text and handed to Python, labels drawn, and the
/// frame's message written as savantpublish writes it.
pub fn metadata(data: &[u8]) {
    init();
    let mut input = Input(data);
    let mut buffer = gst::Buffer::with_size(4).expect("a small buffer");
    {
        let buffer = buffer.get_mut().expect("a new buffer is writable");
        if input.byte() & 1 == 1 {
            let structure = input.structure(0);
            attributes::replace_custom_meta_structure(buffer, attributes::META_NAME, structure);
        }
        if input.byte() & 1 == 1 {
            let structure = input.structure(0);
            attributes::replace_custom_meta_structure(buffer, objects::PARAMS_META_NAME, structure);
        }
        for _ in 0..input.byte() % 8 {
            let label = input.text();
            let [x, y, w, h] = [input.byte(), input.byte(), input.byte(), input.byte()];
            let mut roi = VideoRegionOfInterestMeta::add(
                buffer,
                &label,
                (x.into(), y.into(), w.into(), h.into()),
            );
            for _ in 0..input.byte() % 4 {
                roi.add_param(input.structure(0));
            }
        }
    }
    objects::restore_dropped(&mut buffer, FRAME_SIZE);
    let objects = objects::read(&buffer);
    if let Some(structure) = attributes::read(&buffer) {
        for (_, value) in structure.iter() {
            let _ = value_text::render(value);
        }
    }
    Python::attach(|py| {
        let dict = attributes::to_py_dict(py, attributes::read(&buffer));
        if let Ok(dict) = dict {
            // As a `to_message` hook returning the frame's attributes would.
            let mut message = Vec::new();
            if message::write_py(dict.as_any(), &mut message).is_ok() {
                assert_json(&message);
            }
        }
        if let Ok(listed) = objects::Objects::new(py, &buffer, FRAME_SIZE) {
            let _ = listed.edit(py, &buffer);
        }
    });
    draw(&DrawSpec::savant_default(), &objects);
    publish(&mut buffer, &mut input);
}

/// savantpublish's message of the frame, from a source id of the fuzzer's: it must
/// be JSON whatever the metas hold.
fn publish(buffer: &mut gst::Buffer, input: &mut Input<'_>) {
    let source_id = input.text();
    crate::frame::source::mark(buffer.make_mut(), &source_id, None, None);
    let (width, height) = FRAME_SIZE;
    let info = message::FrameInfo {
        source_id: Some(&source_id),
        frame_num: u64::from_le_bytes(input.bytes()),
        pts: Some(u64::from_le_bytes(input.bytes())),
        running_time: None,
        width,
        height,
    };
    let mut out = Vec::new();
    message::write_frame(buffer, &info, &mut out);
    assert_json(&out);
}

fn assert_json(message: &[u8]) {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(message) {
        panic!("not JSON ({e}): {}", String::from_utf8_lossy(message));
    }
}

/// Draws `objects` with `spec` on a small RGBA canvas, as savantdrawfunc does.
fn draw(spec: &DrawSpec, objects: &[objects::ObjectData]) {
    let mut ops: Vec<DrawOp> = Vec::new();
    spec.ops(objects, &mut ops);
    let (width, height) = FRAME_SIZE;
    let mut pixels = vec![0u8; (width * height * 4) as usize];
    let mut canvas = Canvas {
        width: width as i32,
        height: height as i32,
        planes: Planes::Packed {
            data: &mut pixels,
            stride: width as usize * 4,
            order: packed_order(gst_video::VideoFormat::Rgba).expect("RGBA is drawn on"),
        },
    };
    render(&mut canvas, &ops);
}

/// Module YAML (with `${...}` interpolation) as savantmodule reads it.
pub fn module_yaml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ModuleConfig::parse(text, None);
    }
}

/// A draw spec (the text before the first NUL) applied to objects built from the
/// bytes after it, labels formatted and drawn.
pub fn draw_spec(data: &[u8]) {
    init();
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let Ok(spec) = DrawSpec::parse(text) else {
        return;
    };
    let mut input = Input(data.get(split + 1..).unwrap_or_default());
    let objects: Vec<objects::ObjectData> = (0..input.byte() % 6)
        .map(|_| objects::ObjectData {
            label: input.text(),
            x: i64::from(input.byte()) - 64,
            y: i64::from(input.byte()) - 64,
            w: i64::from(input.byte()),
            h: i64::from(input.byte()),
            confidence: (input.byte() & 1 == 1).then(|| f64::from_le_bytes(input.bytes())),
            track_id: (input.byte() & 1 == 1).then(|| i64::from_le_bytes(input.bytes())),
            model: (input.byte() & 1 == 1).then(|| input.text()),
            attributes: (input.byte() & 1 == 1).then(|| input.structure(0)),
            source_id: (input.byte() & 1 == 1).then(|| input.text()),
        })
        .collect();
    draw(&spec, &objects);
}

/// Caps text as `Frame.from_buffer` takes it, then a frame over a buffer of the
/// size those caps describe.
pub fn caps_text(data: &[u8]) {
    init();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(info) = crate::frame::video_info_of_caps_text(text) else {
        return;
    };
    // Caps may describe frames far larger than a fuzzer should allocate.
    if info.size() > 16 << 20 {
        return;
    }
    let Ok(buffer) = gst::Buffer::with_size(info.size()) else {
        return;
    };
    let layout = crate::frame::layout::FrameLayout::from_info(&info);
    let _ = Frame::new(&buffer, &layout, Access::ReadOnly, None);
}
