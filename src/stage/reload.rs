//! dev-mode: the files a stage's code comes from, to reload it when one changes.
//!
//! Watched: the module's own file and every loaded module whose file sits in the same
//! directory (the siblings it imported). The module and those siblings are dropped
//! from `sys.modules` before a reload so that the new import reads them anew (file
//! and dotted modules alike).
//!
//! The reload itself (`StageRuntime::maybe_reload`) swaps new instances in at a
//! frame boundary and retires the old ones once no frame is in their calls.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::log_bridge;
use super::runtime::{call_hook, with_python, InstanceSet, StageRuntime};
use crate::frame::CapsInfo;
use crate::python::loader::{StageError, UserInstance};
use crate::python::thread_state;

#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// File and its modification time when last looked at.
    files: Vec<(PathBuf, Option<SystemTime>)>,
    /// `sys.modules` names of the watched siblings.
    modules: Vec<String>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Watch {
    /// The files behind `hooks`' module, as loaded now.
    pub fn collect(py: Python<'_>, hooks: &UserInstance) -> Self {
        let Some(main) = hooks.module_file(py) else {
            return Self::default();
        };
        let directory = main.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut watch = Self {
            files: vec![(main.clone(), modified(&main))],
            modules: Vec::new(),
        };
        let modules = py
            .import("sys")
            .and_then(|sys| sys.getattr("modules"))
            .and_then(|modules| modules.call_method0("copy"))
            .and_then(|copy| Ok(copy.cast_into::<PyDict>()?));
        let Ok(modules) = modules else {
            return watch;
        };
        for (name, module) in modules.iter() {
            let Ok(name) = name.extract::<String>() else {
                continue;
            };
            let file = module
                .getattr("__file__")
                .and_then(|f| f.extract::<String>())
                .ok()
                .map(PathBuf::from);
            if let Some(file) = file {
                if file == main {
                    // A dotted module stays in sys.modules: evicting it is what makes
                    // the next import read it anew.
                    watch.modules.push(name);
                } else if file.parent() == Some(directory.as_path()) {
                    watch.files.push((file.clone(), modified(&file)));
                    watch.modules.push(name);
                }
            }
        }
        watch
    }

    /// Whether any watched file changed (or appeared or vanished) since collected.
    pub fn changed(&self) -> bool {
        self.files
            .iter()
            .any(|(path, seen)| modified(path) != *seen)
    }

    /// Takes the files' current times as seen (after a reload that failed: the next
    /// save is what counts).
    pub fn refresh(&mut self) {
        for (path, seen) in &mut self.files {
            *seen = modified(path);
        }
    }

    /// Drops the watched siblings from `sys.modules` so a new import re-reads them.
    pub fn evict(&self, py: Python<'_>) {
        if let Ok(modules) = py.import("sys").and_then(|sys| sys.getattr("modules")) {
            for name in &self.modules {
                let _ = modules.del_item(name);
            }
        }
    }

    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(path, _)| path.as_path())
    }
}

impl StageRuntime {
    /// dev-mode, at a frame boundary: when a watched file changed, re-imports the
    /// module once, builds as many new instances as before with the same kwargs,
    /// runs their on_start (and on_caps with the current caps), and swaps them in
    /// for every worker at once. If that fails, the last good code keeps running and
    /// a WARNING carries the traceback; the next save is tried again. One thread
    /// reloads; the others go on with the old instances meanwhile.
    pub fn maybe_reload(&self, element: &gst::Element) {
        if !self.dev_mode.load(Relaxed) {
            return;
        }
        let Ok(_reloading) = self.reloading.try_lock() else {
            return;
        };
        let (config, watch, count, caps) = {
            let state = self.state.lock().unwrap();
            let Some(state) = state.as_ref() else { return };
            match state.dev.as_ref() {
                Some((config, watch)) if watch.changed() => (
                    config.clone(),
                    watch.clone(),
                    state.instances.len(),
                    state.last_caps.clone(),
                ),
                _ => return,
            }
        };
        gst::info!(
            self.cat,
            obj = element,
            "dev-mode: {} changed, reloading {} instance(s)",
            config.module,
            count
        );
        thread_state::attach_if_running(|py| watch.evict(py));
        let reloaded = self
            .load_instances(element, &config, count)
            .and_then(|instances| {
                if let Some(caps) = &caps {
                    if let Err(error) = self.replay_caps(element, &instances, caps) {
                        for hooks in instances.iter() {
                            self.stop_instance(element, hooks.clone());
                        }
                        return Err(error);
                    }
                }
                let watch = thread_state::attach(|py| Watch::collect(py, &instances[0]))
                    .map(|(watch, _)| watch)
                    .unwrap_or_default();
                Ok((instances, watch))
            });
        // The state's lock is released before anything takes the GIL again.
        let replaced = {
            let mut state = self.state.lock().unwrap();
            let Some(state) = state.as_mut() else { return };
            match reloaded {
                Ok((instances, watch)) => {
                    state.dev = Some((config, watch));
                    state.generation += 1;
                    Ok(std::mem::replace(&mut state.instances, instances))
                }
                Err(error) => {
                    if let Some((_, watch)) = state.dev.as_mut() {
                        watch.refresh();
                    }
                    Err(error)
                }
            }
        };
        match replaced {
            Ok(old) => {
                gst::info!(self.cat, obj = element, "dev-mode: reloaded");
                self.stats.code_reloaded();
                self.retire(element, old);
            }
            Err(error) => {
                self.stats.errors.fetch_add(1, Relaxed);
                gst::element_warning!(
                    element,
                    gst::LibraryError::Failed,
                    (
                        "dev-mode: reloading failed, the last good code keeps running: {}",
                        error.message
                    ),
                    ["{}", error.traceback.as_deref().unwrap_or("")]
                );
            }
        }
    }

    /// Runs on_caps of fresh instances with the stream's current caps.
    fn replay_caps(
        &self,
        element: &gst::Element,
        instances: &[Arc<UserInstance>],
        caps: &gst::Caps,
    ) -> Result<(), StageError> {
        let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
            return Ok(());
        };
        let _logging = log_bridge::enter(element, self.cat);
        with_python(|py| {
            for hooks in instances {
                if let Some(on_caps) = &hooks.on_caps {
                    gst::log!(self.cat, obj = element, "calling on_caps (reloaded)");
                    let info = Bound::new(py, CapsInfo::new(&info, caps))
                        .map_err(|e| StageError::python(py, "on_caps", &e))?;
                    call_hook(py, hooks, "on_caps", on_caps, (info,))?;
                }
            }
            Ok(())
        })
    }

    /// Stops instances that a reload replaced, once no frame is in their calls any
    /// more (frames hold a reference to the instances they were given).
    fn retire(&self, element: &gst::Element, old: InstanceSet) {
        // Frame contexts hold the whole set, a call in progress may hold one
        // instance: wait until only this thread holds either. No lock and no GIL is
        // held here, so the calls in progress can finish.
        let in_use = |old: &InstanceSet| {
            Arc::strong_count(old) > 1 || old.iter().any(|hooks| Arc::strong_count(hooks) > 1)
        };
        while in_use(&old) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.stop_instances(element, old);
    }
}
