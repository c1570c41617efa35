//! Negotiation: the stages take only formats a frame maps to arrays (savantdrawfunc:
//! those it draws on), prefer cheap common ones, and narrow to a `formats` property
//! or a class's `formats` attribute.

mod common;

use common::{expect_error, module, run};

fn negotiated_format(pipeline_middle: &str) -> String {
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! {pipeline_middle} ! appsink name=sink"
    ));
    assert!(result.eos, "{result:?}");
    assert_eq!(result.buffers.len(), 2);
    // The stages record what they saw on the frame (tests run in parallel).
    common::attributes(&result.buffers[1])
        .unwrap()
        .get::<String>("format")
        .unwrap()
}

fn recording_stage() -> String {
    module(
        "negotiation_stage",
        r#"
        class Any:
            def process_frame(self, frame):
                frame.attributes["format"] = frame.format
        class WantsGray:
            formats = ["GRAY8"]
            def process_frame(self, frame):
                frame.attributes["format"] = frame.format
        def draw(frame, artist):
            frame.attributes["format"] = frame.format
        "#,
    )
}

#[test]
fn without_a_caps_filter_a_source_picks_a_cheap_common_format() {
    let stage = recording_stage();
    assert_eq!(
        negotiated_format(&format!("savantpyfunc module={stage} class-name=Any")),
        "RGBA"
    );
    assert_eq!(
        negotiated_format(&format!("savantdrawfunc module={stage}")),
        "RGBA"
    );
}

#[test]
fn the_formats_property_narrows_negotiation() {
    let stage = recording_stage();
    assert_eq!(
        negotiated_format(&format!(
            "savantpyfunc module={stage} class-name=Any formats=BGR"
        )),
        "BGR"
    );
    // Several: the element's order of preference among them.
    assert_eq!(
        negotiated_format(&format!(
            "savantpyfunc module={stage} class-name=Any formats=\"GRAY8,I420\""
        )),
        "I420"
    );
    assert_eq!(
        negotiated_format(&format!("savantdrawfunc module={stage} formats=NV12")),
        "NV12"
    );
}

#[test]
fn a_class_may_declare_its_formats_and_the_property_wins() {
    let stage = recording_stage();
    assert_eq!(
        negotiated_format(&format!("savantpyfunc module={stage} class-name=WantsGray")),
        "GRAY8"
    );
    assert_eq!(
        negotiated_format(&format!(
            "savantpyfunc module={stage} class-name=WantsGray formats=BGRx"
        )),
        "BGRx"
    );
}

#[test]
fn a_format_the_element_cannot_take_is_an_error_naming_the_ones_it_can() {
    let stage = recording_stage();
    let result = run(&format!(
        "videotestsrc num-buffers=2 ! savantpyfunc module={stage} class-name=Any formats=UYVY \
         ! appsink name=sink"
    ));
    let (message, _) = expect_error(&result);
    assert!(
        message.contains("format \"UYVY\" is not one this element takes (RGBA, BGRx, BGR"),
        "{message}"
    );
}

#[test]
fn templates_list_only_formats_with_an_array_layout() {
    common::init();
    let factory = gst::ElementFactory::find("savantpyfunc").unwrap();
    let sink = factory
        .static_pad_templates()
        .into_iter()
        .find(|t| t.name_template() == "sink")
        .unwrap()
        .caps();
    let formats: Vec<String> = sink
        .structure(0)
        .unwrap()
        .get::<gst::List>("format")
        .unwrap()
        .iter()
        .map(|v| v.get::<String>().unwrap())
        .collect();
    assert_eq!(&formats[..5], ["RGBA", "BGRx", "BGR", "I420", "NV12"]);
    assert!(!formats.iter().any(|f| f == "ABGR64_LE" || f == "UYVY"));
}

#[test]
fn a_class_formats_attribute_that_is_not_names_is_an_error() {
    let stage = module(
        "negotiation_bad_formats",
        "class Odd:\n    formats = 42\n    def process_frame(self, frame):\n        pass\n",
    );
    let result = run(&format!(
        "videotestsrc num-buffers=1 ! savantpyfunc module={stage} class-name=Odd ! appsink name=sink"
    ));
    let (message, _) = expect_error(&result);
    assert!(
        message.contains("Odd.formats must be a format name or a list"),
        "{message}"
    );
}
