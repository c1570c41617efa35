//! gst-savant: GStreamer elements that run per-frame Python at native speed.
//!
//! - `savantpyfunc`: calls a user Python class or function for every buffer, zero copy.
//! - `savantdrawfunc`: draws objects per a draw spec in Rust, plus a Python draw hook.
//! - `savantqueue`: the bounded queue ahead of a Python stage, with statistics.
//! - `savantmodule`: a bin built from a Savant module YAML ([`module::build_bin`]).
//!
//! Python is initialized lazily at the first element start, never at plugin load.

pub mod draw;
pub mod drawfunc;
pub mod frame;
pub mod module;
pub mod pyfunc;
pub mod python;
pub mod queue;
pub mod yaml;

use gst::glib;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    frame::attributes::register();
    pyfunc::register(plugin)?;
    drawfunc::register(plugin)?;
    queue::register(plugin)?;
    module::register(plugin)?;
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
