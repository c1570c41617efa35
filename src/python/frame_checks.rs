//! After each call of user code: what the frame's checks found (a write into a
//! read-only frame, a frame Python kept), as the element reports it.

use std::sync::atomic::Ordering::Relaxed;

use gst::prelude::*;
use pyo3::prelude::*;

use super::stage::{Hooks, StageError};
use super::stats::StageStats;
use crate::frame::{held, readonly_check, Frame};

/// What to report for one call. Empty (and allocation-free) on the usual path.
#[derive(Debug, Default)]
pub struct CallReport {
    /// Python wrote into a read-only frame: handled like an exception (on-error).
    pub wrote: Option<StageError>,
    warnings: Vec<String>,
}

impl CallReport {
    /// Posts the warnings, once the GIL is released.
    pub fn post_warnings(&self, element: &gst::Element) {
        for warning in &self.warnings {
            gst::element_warning!(element, gst::LibraryError::Failed, ("{}", warning));
        }
    }
}

/// Whether the next frame of this stage gets the read-only check.
#[inline]
pub fn picks_readonly_check(stats: &StageStats) -> bool {
    stats.readonly.picks(stats.frames.load(Relaxed))
}

/// Right after the call returned, before the element drops its reference to `frame`.
pub fn after_call(
    element: &gst::Element,
    stats: &StageStats,
    hooks: &Hooks,
    frame: &Bound<'_, Frame>,
) -> CallReport {
    let after = Frame::after_call(frame, &stats.held);
    let mut report = CallReport::default();
    if after.checked {
        stats.readonly.count_check();
    }
    if after.wrote_plane.is_none() && !after.kept {
        return report;
    }
    let name = element.name();
    if let Some(plane) = after.wrote_plane {
        report.wrote = Some(StageError::plain(readonly_check::wrote_message(
            &name,
            &hooks.module_name,
            &hooks.process_name,
            plane,
        )));
    }
    if after.kept && after.writable && stats.held.first_kept_writable() {
        report.warnings.push(held::kept_writable_message(&name));
    }
    if let Some(crossing) = after.crossing {
        report.warnings.push(crossing.message(&name));
    }
    report
}
