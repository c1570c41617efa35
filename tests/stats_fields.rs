//! Every field a stage's `stats` reports is described by the property's blurb (which
//! gst-inspect shows), and the blurb describes no field that is not there.

mod common;

use common::{init, module};
use gst::prelude::*;

fn blurb_names(element: &gst::Element) -> Vec<String> {
    let blurb = element
        .find_property("stats")
        .unwrap()
        .blurb()
        .unwrap()
        .to_string();
    let list = blurb.split_once(": ").expect("a list of fields").1;
    // "name (meaning), name (meaning), ..."; meanings hold no parentheses.
    list.split("), ")
        .map(|entry| entry.split(" (").next().unwrap().trim().to_owned())
        .collect()
}

fn stats_after_a_run(launch: &str, name: &str) -> (gst::Element, Vec<String>) {
    let pipeline = gst::parse::launch(launch).unwrap();
    common::run_to_eos(&pipeline, std::time::Duration::from_secs(30));
    let element = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name(name)
        .unwrap();
    let stats = element.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    (element, stats.fields().map(|f| f.to_string()).collect())
}

#[test]
fn stats_blurbs_describe_exactly_the_fields_reported() {
    init();
    let stage = module(
        "stats_fields_stage.py",
        "def process_frame(frame):\n    pass\n",
    );
    let draw = module(
        "stats_fields_draw.py",
        "def draw(frame, artist):\n    pass\n",
    );
    let src = "videotestsrc num-buffers=10 ! video/x-raw,format=RGBA,width=16,height=16";
    for (launch, name) in [
        (
            format!("{src} ! savantpyfunc name=s workers=2 module={stage} ! fakesink"),
            "s",
        ),
        (
            format!("{src} ! savantdrawfunc name=s module={draw} ! fakesink"),
            "s",
        ),
    ] {
        let (element, mut reported) = stats_after_a_run(&launch, name);
        let mut described = blurb_names(&element);
        reported.sort();
        described.sort();
        assert_eq!(reported, described, "{launch}");
    }
}
