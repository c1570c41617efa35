//! After each call of user code: what the frame's checks found (a write into a
//! read-only frame, a frame Python kept), as the element reports it.

use std::sync::atomic::Ordering::Relaxed;

use gst::prelude::*;
use pyo3::prelude::*;

use super::stats::StageStats;
use crate::frame::{held, readonly_check, AfterCall, Frame};
use crate::python::loader::{StageError, UserInstance};

/// What to report for one call: nothing (one null pointer, moved cheaply through
/// the per-buffer path) unless a check found something.
#[derive(Debug, Default)]
pub struct CallReport(Option<Box<Findings>>);

#[derive(Debug, Default)]
struct Findings {
    /// Python wrote into a read-only frame: handled like an exception (on-error).
    wrote: Option<StageError>,
    warnings: Vec<String>,
}

impl CallReport {
    /// The error for a write into a read-only frame, if there was one.
    #[inline]
    pub fn take_wrote(&mut self) -> Option<StageError> {
        self.0.as_mut()?.wrote.take()
    }

    /// Posts the warnings, once the GIL is released.
    #[inline]
    pub fn post_warnings(self, element: &gst::Element) {
        if let Some(findings) = self.0 {
            post(element, &findings);
        }
    }
}

#[cold]
fn post(element: &gst::Element, findings: &Findings) {
    for warning in &findings.warnings {
        gst::element_warning!(element, gst::LibraryError::Failed, ("{}", warning));
    }
}

/// Whether the next frame of this stage gets the read-only check.
#[inline]
pub fn picks_readonly_check(stats: &StageStats) -> bool {
    stats.readonly.picks(stats.frames.load(Relaxed))
}

/// Right after the call returned, before the element drops its reference to `frame`.
#[inline]
pub fn after_call(
    element: &gst::Element,
    stats: &StageStats,
    hooks: &UserInstance,
    frame: &Bound<'_, Frame>,
) -> CallReport {
    match Frame::after_call(frame, &stats.held) {
        None => CallReport(None),
        Some(after) => report(element, stats, hooks, after),
    }
}

#[cold]
fn report(
    element: &gst::Element,
    stats: &StageStats,
    hooks: &UserInstance,
    after: AfterCall,
) -> CallReport {
    if after.checked {
        stats
            .readonly
            .count_check(after.hash_ns, stats.mean_python_ns());
    }
    if after.wrote_plane.is_none() && !after.kept {
        return CallReport(None);
    }
    let name = element.name();
    let mut findings = Findings::default();
    if let Some(plane) = after.wrote_plane {
        findings.wrote = Some(StageError::plain(readonly_check::wrote_message(
            &name,
            &hooks.module_name,
            &hooks.process_name,
            plane,
        )));
    }
    if after.kept && after.writable && stats.held.first_kept_writable() {
        findings.warnings.push(held::kept_writable_message(&name));
    }
    if let Some(crossing) = after.crossing {
        findings.warnings.push(crossing.message(&name));
    }
    CallReport(Some(Box::new(findings)))
}
