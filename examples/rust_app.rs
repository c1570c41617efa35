//! A Rust application that links the plugin statically and runs a Python stage.
//!
//!     cargo run --example rust_app -- [frames]

use gst::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    gstsavant::plugin_register_static()?;
    let frames: u32 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(60);
    let module = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ball.py");
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc pattern=ball num-buffers={frames} \
         ! video/x-raw,format=RGBA,width=320,height=240 \
         ! savantpyfunc name=finder module={module} class-name=BallFinder ! fakesink"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut result = Ok(());
    for message in bus.iter_timed(gst::ClockTime::NONE) {
        match message.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                result = Err(format!("{} ({:?})", e.error(), e.debug()).into());
                break;
            }
            _ => {}
        }
    }
    let stats = pipeline
        .by_name("finder")
        .ok_or("no finder")?
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null)?;
    println!(
        "stats: frames={} errors={}",
        stats.get::<u64>("frames")?,
        stats.get::<u64>("errors")?
    );
    result
}
