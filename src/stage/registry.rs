//! The elements whose figures the metrics serve. Each stage, savantqueue and
//! savantdemux adds itself when it is made, if metrics are on
//! (`stats::enable_metrics`, by the savantmetrics tracer at `gst_init`, before any
//! element exists); held weakly, so an element's life is its own.
//!
//! The elements register themselves rather than the tracer watching GStreamer's
//! `element-new` hook: a tracer that registers any hook turns on GStreamer's
//! tracing dispatch for every pad push, chain and buffer ref in the process
//! (measured: 5,500 instructions a buffer through `identity`, +48%), one without
//! hooks costs nothing.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use gst::glib;
use gst::prelude::*;

use super::stats::metrics_enabled;

/// Most elements served; more are counted, not served (a bound on the labels).
pub const MAX_ELEMENTS: usize = 4096;

static ELEMENTS: Mutex<Vec<glib::WeakRef<gst::Element>>> = Mutex::new(Vec::new());
static UNSERVED: AtomicU64 = AtomicU64::new(0);

/// Serves `element`'s figures, when metrics are on.
pub fn register(element: &gst::Element) {
    if !metrics_enabled() {
        return;
    }
    let mut elements = ELEMENTS.lock().unwrap();
    if elements.len() >= MAX_ELEMENTS {
        elements.retain(|e| e.upgrade().is_some());
    }
    if elements.len() < MAX_ELEMENTS {
        elements.push(element.downgrade());
    } else {
        UNSERVED.fetch_add(1, Relaxed);
    }
}

/// The registered elements still alive (the dead are forgotten).
pub fn alive() -> Vec<gst::Element> {
    let mut elements = ELEMENTS.lock().unwrap();
    let mut alive = Vec::with_capacity(elements.len());
    elements.retain(|weak| match weak.upgrade() {
        Some(element) => {
            alive.push(element);
            true
        }
        None => false,
    });
    alive
}

/// The name of the top-level bin `element` is in (its pipeline), if any: what the
/// metrics and the spans label an element's figures with.
pub fn pipeline_name(element: &gst::Element) -> Option<String> {
    let mut top = None;
    let mut parent = element.parent();
    while let Some(object) = parent {
        parent = object.parent();
        top = Some(object);
    }
    top.map(|t| t.name().to_string())
}

/// Elements not served because [`MAX_ELEMENTS`] were.
pub fn unserved() -> u64 {
    UNSERVED.load(Relaxed)
}
