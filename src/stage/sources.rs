//! Which sources a stage's instances were told of (`on_source_add`): each source of
//! a savantmux is announced once per set of instances, by its `savant-source-add`
//! event or its first frame, whichever comes first, and again after a flush or a
//! reload.

use super::log_bridge;
use super::policy::OnError;
use super::runtime::{call_hook, with_python};
use super::runtime::{FrameContext, InstanceSet, StageRuntime};
use crate::frame::source;
use crate::python::loader::SOURCE_HOOKS;

/// Sources announced to one set of instances since the start or the last flush.
#[derive(Default)]
pub(super) struct Told {
    generation: u64,
    pub(super) ids: std::collections::HashSet<String>,
}

impl Told {
    /// A new set of instances (a reload) is told of every source again.
    pub(super) fn renew(&mut self, generation: u64) {
        if self.generation != generation {
            self.generation = generation;
            self.ids.clear();
        }
    }
}

impl StageRuntime {
    /// Runs on_source_add on every instance for each source of `buffers` they were
    /// not told of yet (since the start, the last flush or a reload), before those
    /// frames reach Python: a source is announced by savantmux's `savant-source-add`
    /// or by its first frame, whichever comes first, so it is announced even when a
    /// flush took the event out of a queue. Per frame: the meta's id is looked up, not
    /// copied. False when the stage must fail (the ERROR is posted).
    pub fn announce_frame_sources(
        &self,
        element: &gst::Element,
        context: &FrameContext,
        buffers: &[gst::Buffer],
    ) -> bool {
        if context.instances.is_empty() {
            return true;
        }
        // Frames no savantmux marked (a single stream) need no lock.
        if !buffers.iter().any(|b| source::with_id(b, |_| ()).is_some()) {
            return true;
        }
        let mut told = self.told.lock().unwrap();
        told.renew(context.generation);
        let mut new: Vec<String> = Vec::new();
        for buffer in buffers {
            source::with_id(buffer, |id| {
                if !told.ids.contains(id) && !new.iter().any(|n| n == id) {
                    new.push(id.to_owned());
                }
            });
        }
        new.is_empty() || self.tell(element, &context.instances, told, new, context.on_error)
    }

    /// The same for a `savant-source-add` event.
    pub(super) fn announce_event_source(
        &self,
        element: &gst::Element,
        instances: &InstanceSet,
        generation: u64,
        id: &str,
        on_error: OnError,
    ) -> bool {
        if instances.is_empty() {
            return true;
        }
        let mut told = self.told.lock().unwrap();
        told.renew(generation);
        told.ids.contains(id) || self.tell(element, instances, told, vec![id.to_owned()], on_error)
    }

    /// Records `new` as told and runs on_source_add for each, with `told` held.
    fn tell(
        &self,
        element: &gst::Element,
        instances: &InstanceSet,
        mut told: std::sync::MutexGuard<'_, Told>,
        new: Vec<String>,
        on_error: OnError,
    ) -> bool {
        if told.ids.len() + new.len() > source::MAX_SOURCES {
            drop(told);
            gst::element_error!(
                element,
                gst::StreamError::Failed,
                ("{}", source::too_many_sources())
            );
            return false;
        }
        told.ids.extend(new.iter().cloned());
        if !instances.iter().any(|h| h.on_source[0].is_some()) {
            return true;
        }
        let _logging = log_bridge::enter(element, self.cat);
        let failure = with_python(|py| {
            new.iter().try_for_each(|id| {
                instances.iter().try_for_each(|hooks| {
                    let Some(hook) = &hooks.on_source[0] else {
                        return Ok(());
                    };
                    gst::log!(self.cat, obj = element, "calling {}({id})", SOURCE_HOOKS[0]);
                    call_hook(py, hooks, SOURCE_HOOKS[0], hook, (id.as_str(),)).map(drop)
                })
            })
        })
        .err();
        drop(told);
        match failure {
            Some(error) => self.on_hook_error(element, &error, on_error) != OnError::Fail,
            None => true,
        }
    }
}
