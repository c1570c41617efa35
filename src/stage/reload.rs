//! dev-mode: the files a stage's code comes from, to reload it when one changes.
//!
//! Watched: the module's own file and every loaded module whose file sits in the same
//! directory (the siblings it imported). The module and those siblings are dropped
//! from `sys.modules` before a reload so that the new import reads them anew (file
//! and dotted modules alike).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::python::loader::Hooks;

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
    pub fn collect(py: Python<'_>, hooks: &Hooks) -> Self {
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
