//! `savantmetrics`: a GStreamer tracer that serves the elements' own figures in
//! Prometheus's text format over HTTP, and says whether each pipeline is flowing.
//!
//! ```sh
//! GST_TRACERS="savantmetrics(port=9464)" gst-launch-1.0 ...
//! curl http://127.0.0.1:9464/metrics
//! ```
//!
//! Why a tracer: it is GStreamer's way of instrumenting what it did not write
//! (GST_TRACERS for any app, no property to set in each pipeline), and it exists
//! once per process, as a server on one port should. It registers no tracer hook:
//! any hook turns on GStreamer's dispatch on every pad push and buffer ref in the
//! process (+48% instructions a buffer through `identity`); the elements register
//! themselves with `stage::registry` instead.
//!
//! What is served is read when scraped, from the counters the elements keep anyway
//! (their `stats` structures and a stage's `StageStats`): nothing on the per-buffer
//! path writes twice. Only what no element kept before is kept while the tracer
//! runs (`stage::stats::enable_metrics`): per-call histograms of the time in Python
//! and of the GIL wait, and frames per source, bounded to
//! `stage::stats::MAX_SOURCE_LABELS` ids a stage.
//!
//! The HTTP server and the text format are written here rather than taken from a
//! crate: the server answers two GET paths from a fixed pool of threads with
//! timeouts (bounded threads and memory whatever the scrapers do; an async
//! runtime would be the largest dependency of the plugin for that), and the values
//! are read from the elements at scrape time, where Prometheus client crates want
//! to own the counters (a second bookkeeping).
//!
//! With `otlp-endpoint`, stages also send a span per frame and call to an
//! OpenTelemetry collector (`stage::tracing`, sampled by `trace-ratio`; `otlp.rs`).
//!
//! Rooms: `imp.rs` the tracer (settings), `otlp.rs` the span export, `exposition.rs`
//! the text, `server.rs` the HTTP side.

use gst::glib;
use gst::prelude::*;

mod exposition;
mod imp;
mod otlp;
mod server;

glib::wrapper! {
    pub struct SavantMetrics(ObjectSubclass<imp::SavantMetrics>) @extends gst::Tracer, gst::Object;
}

pub(crate) fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Tracer::register(Some(plugin), "savantmetrics", SavantMetrics::static_type())
}
