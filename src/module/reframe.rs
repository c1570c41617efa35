//! Objects follow the picture through Savant's padding. `videobox` adds the
//! borders and `videocrop` cuts them off; both drop ROI metas (GStreamer 1.22), so
//! probes around each carry them over: the sink pad keeps the
//! buffer going in, the src pad copies its ROI metas onto the buffer coming out
//! (GStreamer's own copy transform: ids, parents and every param as they were) and
//! moves them: right and down by the borders added, back and clipped when they are
//! cut off. Metas the element did copy (another version) are moved, not copied
//! twice. A padded frame also gets Savant's primary object, the picture inside the
//! borders, as the `savant.roi` attribute (`"left,top,width,height"`; the `savant`
//! package's `frame_meta.roi`), unless a producer set one.
//!
//! Hand-written rather than an element of its own: it is two probes on an element
//! GStreamer already has. Each transforms one buffer at a time on its streaming
//! thread (sink probe, chain, src probe in that order), so one slot is enough.

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_video::VideoRegionOfInterestMeta;

use super::config::Reframe;

/// Carries the ROI metas of the buffers through `element` (videobox, videocrop) and moves
/// them as `reframe` says.
pub(super) fn follow(element: &gst::Element, reframe: Reframe) {
    let (Some(sink), Some(src)) = (element.static_pad("sink"), element.static_pad("src")) else {
        return;
    };
    let entering: Arc<Mutex<Option<gst::Buffer>>> = Arc::default();
    let slot = entering.clone();
    sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data {
            let has_objects = buffer.meta::<VideoRegionOfInterestMeta>().is_some();
            *slot.lock().unwrap() = has_objects.then(|| buffer.clone());
        }
        gst::PadProbeReturn::Ok
    });
    src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let entered = entering.lock().unwrap().take();
        if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data {
            // The output is the element's own new buffer (neither passes through
            // with borders to add or cut), so this does not copy.
            apply(buffer.make_mut(), entered.as_deref(), reframe);
        }
        gst::PadProbeReturn::Ok
    });
}

fn apply(buffer: &mut gst::BufferRef, entered: Option<&gst::BufferRef>, reframe: Reframe) {
    let dropped = buffer.meta::<VideoRegionOfInterestMeta>().is_none();
    if let (true, Some(entered)) = (dropped, entered) {
        let copy = gst::meta::MetaTransformCopy::new(..);
        for meta in entered.iter_meta::<VideoRegionOfInterestMeta>() {
            let _ = meta.transform(buffer, &copy);
        }
    }
    buffer.foreach_meta_mut(|mut meta| {
        if let Some(roi) = meta.downcast_mut::<VideoRegionOfInterestMeta>() {
            let rect = moved(roi.rect(), reframe);
            roi.set_rect(rect);
        }
        std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Keep)
    });
    if let Reframe::Padded {
        left,
        top,
        width,
        height,
    } = reframe
    {
        crate::frame::attributes::set_if_absent(
            buffer,
            "savant.roi",
            format!("{left},{top},{width},{height}").to_send_value(),
        );
    }
}

/// Where a box at `(x, y, w, h)` lands.
fn moved((x, y, w, h): (u32, u32, u32, u32), reframe: Reframe) -> (u32, u32, u32, u32) {
    match reframe {
        Reframe::Padded { left, top, .. } => (x.saturating_add(left), y.saturating_add(top), w, h),
        Reframe::Cropped {
            left,
            top,
            width,
            height,
        } => {
            let clip = |start: u32, length: u32, cut: u32, limit: u32| {
                let from = start.saturating_sub(cut).min(limit);
                let to = start.saturating_add(length).saturating_sub(cut).min(limit);
                (from, to - from)
            };
            let (x, w) = clip(x, w, left, width);
            let (y, h) = clip(y, h, top, height);
            (x, y, w, h)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_move_with_the_borders_and_are_clipped_to_what_is_left() {
        let padded = Reframe::Padded {
            left: 8,
            top: 16,
            width: 64,
            height: 48,
        };
        assert_eq!(moved((10, 10, 20, 20), padded), (18, 26, 20, 20));
        assert_eq!(moved((u32::MAX, 0, 1, 1), padded), (u32::MAX, 16, 1, 1));
        let cropped = Reframe::Cropped {
            left: 8,
            top: 16,
            width: 64,
            height: 48,
        };
        assert_eq!(moved((18, 26, 20, 20), cropped), (10, 10, 20, 20));
        // Partly in the left border, partly past the right edge, wholly in the top
        // border, and huge.
        assert_eq!(moved((4, 20, 10, 40), cropped), (0, 4, 6, 40));
        assert_eq!(moved((60, 60, 30, 10), cropped), (52, 44, 12, 4));
        assert_eq!(moved((0, 0, 8, 8), cropped), (0, 0, 0, 0));
        assert_eq!(moved((0, 0, u32::MAX, u32::MAX), cropped), (0, 0, 64, 48));
    }
}
