//! The on-error policy: what a failing hook does (an ERROR, or a WARNING and the
//! buffer passed or dropped), with identical WARNINGs rate-limited.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use gst::glib;

use super::runtime::StageRuntime;
use crate::python::loader::StageError;

/// What to do when user code raises (or returns something that is not a verdict).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantOnError")]
pub enum OnError {
    #[default]
    #[enum_value(name = "Post an ERROR on the bus and stop the stream", nick = "fail")]
    Fail,
    #[enum_value(
        name = "Post a WARNING with the traceback and pass the buffer on unchanged",
        nick = "skip"
    )]
    Skip,
    #[enum_value(
        name = "Post a WARNING with the traceback and drop the buffer",
        nick = "drop"
    )]
    Drop,
}

/// Identical WARNINGs for failing hooks are posted at most once per this interval.
const REPEATED_WARNING_INTERVAL: Duration = Duration::from_secs(10);

pub(super) struct RepeatedWarning {
    message: String,
    policy: &'static str,
    posted_at: Instant,
    repeats: u64,
}

impl StageRuntime {
    /// Posts the error or warning for a failed hook and counts it; returns the policy.
    pub fn on_hook_error(
        &self,
        element: &gst::Element,
        error: &StageError,
        on_error: OnError,
    ) -> OnError {
        self.stats.errors.fetch_add(1, Relaxed);
        let traceback = error.traceback.as_deref().unwrap_or("");
        match on_error {
            OnError::Fail => {
                gst::element_error!(
                    element,
                    gst::LibraryError::Failed,
                    ("{}", error.message),
                    ["{}", traceback]
                );
            }
            OnError::Skip | OnError::Drop => {
                let policy = if on_error == OnError::Skip {
                    "skip"
                } else {
                    "drop"
                };
                gst::warning!(self.cat, obj = element, "{}\n{}", error.message, traceback);
                // The same failure on every frame is one WARNING per interval, with
                // a count, not hundreds of identical messages on the bus.
                let repeats = {
                    let mut repeated = self.repeated_warning.lock().unwrap();
                    match repeated.as_mut() {
                        Some(r)
                            if r.message == error.message
                                && r.posted_at.elapsed() < REPEATED_WARNING_INTERVAL =>
                        {
                            r.repeats += 1;
                            return on_error;
                        }
                        _ => repeated
                            .replace(RepeatedWarning {
                                message: error.message.clone(),
                                policy,
                                posted_at: Instant::now(),
                                repeats: 0,
                            })
                            .filter(|r| r.message == error.message)
                            .map_or(0, |r| r.repeats),
                    }
                };
                let repeated = if repeats > 0 {
                    format!("; {repeats} more time(s) since the last report")
                } else {
                    String::new()
                };
                gst::element_warning!(
                    element,
                    gst::LibraryError::Failed,
                    ("{} (on-error={}{})", error.message, policy, repeated),
                    ["{}", traceback]
                );
            }
        }
        on_error
    }

    /// Reports identical WARNINGs that were counted but not posted yet (at EOS and
    /// on stop).
    pub(super) fn flush_repeated_warning(&self, element: &gst::Element) {
        let Some(repeated) = self.repeated_warning.lock().unwrap().take() else {
            return;
        };
        if repeated.repeats > 0 {
            gst::element_warning!(
                element,
                gst::LibraryError::Failed,
                (
                    "{} (on-error={}; {} more time(s) since the last report)",
                    repeated.message,
                    repeated.policy,
                    repeated.repeats
                )
            );
        }
    }
}
