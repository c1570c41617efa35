//! How a Python stage element (savantpyfunc, savantdrawfunc, savantpublish) goes
//! through its states, written once: what differs is a [`Lifecycle`].
//!
//! - NULL -> READY: [`Lifecycle::prepare`] (settings checked, the interpreter and
//!   the user's code made ready); an error is posted and the change fails.
//! - READY -> PAUSED: [`Lifecycle::start`] (instances made, threads started); an
//!   error is posted and the change fails. A start that fails halfway undoes its
//!   own work.
//! - PAUSED -> READY: [`Lifecycle::unblock`] before the pads are deactivated (a
//!   streaming thread waiting on the element's own threads must get out), then
//!   [`Lifecycle::stop`] after; `stop` too when the parent's READY -> PAUSED failed.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::parts::HasStageParts;

/// What an element does at each of the state changes above.
pub trait Lifecycle: ElementImpl + HasStageParts {
    /// NULL -> READY.
    ///
    /// # Errors
    ///
    /// The message to post: settings that cannot work, no interpreter, code that
    /// does not load. By default, the runtime's checks and loading alone.
    fn prepare(&self) -> Result<(), gst::ErrorMessage> {
        let stage = self.stage();
        stage
            .runtime
            .prepare(self.obj().upcast_ref(), &stage.snapshot().0)
    }

    /// READY -> PAUSED, before the pads are activated.
    ///
    /// # Errors
    ///
    /// The message to post; what was started is stopped again.
    fn start(&self) -> Result<(), gst::ErrorMessage>;

    /// PAUSED -> READY, before the pads are deactivated.
    fn unblock(&self) {}

    /// PAUSED -> READY, after the pads are deactivated.
    fn stop(&self);
}

/// The element's `change_state`.
///
/// # Errors
///
/// When a step above failed (its message is posted) or the parent's change did.
pub fn change_state<T: Lifecycle>(
    imp: &T,
    transition: gst::StateChange,
) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
    let step = match transition {
        gst::StateChange::NullToReady => imp.prepare(),
        gst::StateChange::ReadyToPaused => imp.start(),
        gst::StateChange::PausedToReady => {
            imp.unblock();
            Ok(())
        }
        _ => Ok(()),
    };
    if let Err(message) = step {
        imp.post_error_message(message);
        return Err(gst::StateChangeError);
    }
    let result = imp.parent_change_state(transition);
    if transition == gst::StateChange::PausedToReady
        || (transition == gst::StateChange::ReadyToPaused && result.is_err())
    {
        imp.stop();
    }
    result
}
