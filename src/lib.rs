//! gst-savant: GStreamer elements that run per-frame Python at native speed.
//!
//! - `savantpyfunc`: calls a user Python class or function for every buffer, zero copy.
//! - `savantdrawfunc`: draws objects per a draw spec in Rust, plus a Python draw hook.
//! - `savantqueue`: the bounded queue ahead of a Python stage, with statistics.
//! - `savantmodule`: a bin built from a Savant module YAML ([`module::build_bin`]).
//! - `savantpublish`: each frame's metadata as JSON to JSON Lines, MQTT, Redis Streams
//!   or NATS, off the streaming thread.
//!
//! Python is initialized lazily at the first element start, never at plugin load.
//!
//! # The GIL, and the deadlock you can cause
//!
//! Every Python stage takes the GIL once per buffer, on its streaming thread, and
//! holds it only for the call. Rust work (mapping, drawing, pushing) runs without it.
//! So the GIL is shared between your pipeline's streaming threads and, in a PyGObject
//! app, your app's own Python code:
//!
//! - A Python app must wait in calls that release the GIL (`GLib.MainLoop().run()`,
//!   `bus.timed_pop_filtered()`); a busy loop starves the streaming threads.
//! - GStreamer calls from a hook behave as from a pad probe (PyGObject gives up the
//!   GIL around them and the elements take it back on the same thread state). To stop
//!   the hook's own pipeline, post a message (`element.post_message(...)`) and change
//!   the state from the bus handler: from the streaming thread GStreamer cannot join
//!   that thread.
//! - Stopping the pipeline from a bus callback (GIL held) is safe: `set_state` releases
//!   the GIL while it waits.
//!
//! ```
//! use gst::prelude::*;
//!
//! gst::init().unwrap();
//! gstsavant::plugin_register_static().unwrap();
//! let dir = std::env::temp_dir().join(format!("gstsavant-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let module = dir.join("doc_stage.py");
//! std::fs::write(&module, "def process_frame(frame):\n    frame.attributes['seen'] = True\n").unwrap();
//!
//! let pipeline = gst::parse::launch(&format!(
//!     "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=32,height=32 \
//!      ! savantpyfunc name=stage module={} ! fakesink",
//!     module.display()
//! ))
//! .unwrap();
//! pipeline.set_state(gst::State::Playing).unwrap();
//! let bus = pipeline.bus().unwrap();
//! bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos])
//!     .expect("EOS");
//! let stats = pipeline
//!     .downcast_ref::<gst::Bin>()
//!     .unwrap()
//!     .by_name("stage")
//!     .unwrap()
//!     .property::<gst::Structure>("stats");
//! assert_eq!(stats.get::<u64>("frames").unwrap(), 3);
//! pipeline.set_state(gst::State::Null).unwrap();
//! ```

// A public function says how it fails (and why it does not panic where it could).
#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

#[macro_use]
mod element_impl;

mod api;
pub(crate) mod cuda;
pub(crate) mod demux;
pub mod draw;
pub(crate) mod drawfunc;
pub mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod metrics;
pub mod module;
pub(crate) mod mux;
pub(crate) mod publish;
pub(crate) mod pyfunc;
pub mod python;
pub(crate) mod queue;
pub(crate) mod stage;
pub(crate) mod yaml;

use gst::glib;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    frame::attributes::register();
    frame::objects::register();
    frame::source::register();
    pyfunc::register(plugin)?;
    drawfunc::register(plugin)?;
    queue::register(plugin)?;
    module::register(plugin)?;
    mux::register(plugin)?;
    demux::register(plugin)?;
    metrics::register(plugin)?;
    publish::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    savant,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
