//! Frame attributes: str -> str/int/float/bool that travel with the buffer as a
//! GstCustomMeta, so any GStreamer element or app can read them
//! (`gst_buffer_get_custom_meta(buf, "SavantFrameAttributes")`).
//!
//! What another element put there is kept bit for bit: Python gets a dict plus a
//! snapshot of the values it was handed, and only keys whose value differs from the
//! snapshot are written back. Reading, comparing and in-place updates are linear in
//! the number of keys; GStreamer itself scans a structure for every field it adds
//! (`gst_structure_set_value`), so adding many keys reuses the layout of the
//! structures built on this thread for the same keys instead (see `build`).

use std::cell::RefCell;
use std::ops::ControlFlow;

use gst::glib;
use gst::glib::translate::IntoGlibPtr;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::values;

pub const META_NAME: &str = "SavantFrameAttributes";

/// Above this many added or removed keys, a structure is rebuilt rather than edited
/// field by field (each added field costs GStreamer a scan of the structure, each
/// removed one a move of the fields after it).
const BULK: usize = 64;

/// Registers the meta; called from plugin_init. No tags: the meta is copied whenever
/// a buffer is copied, whatever happens to its memory (video filters included).
pub fn register() {
    if !gst::meta::CustomMeta::is_registered(META_NAME) {
        gst::meta::CustomMeta::register(META_NAME, &[]);
    }
}

static META: super::custom_meta::CustomMetaKind =
    super::custom_meta::CustomMetaKind::new(META_NAME);

/// The structure of the buffer's attributes meta, or None when it has none.
pub fn read(buffer: &gst::BufferRef) -> Option<&gst::StructureRef> {
    META.structure(buffer)
}

/// Walks a structure's fields in order. `StructureRef::iter` looks every value up by
/// name (a scan per field, quadratic in all); gst_structure_foreach is the linear
/// walk GStreamer 1.22 has.
pub fn for_each_field(
    structure: &gst::StructureRef,
    mut f: impl FnMut(glib::Quark, &glib::SendValue) -> ControlFlow<()>,
) {
    #[allow(deprecated)]
    structure.foreach(|quark, value| {
        // SAFETY: SendValue is a transparent wrapper of Value, and a structure's
        // values are thread-safe by GStreamer's rules; gstreamer-rs's own
        // StructureRef::value hands them out the same way.
        f(quark, unsafe {
            &*(value as *const glib::Value as *const glib::SendValue)
        })
    });
}

/// A dict handed to Python and the values it started with.
pub struct Tracked {
    pub dict: Py<PyDict>,
    pub original: Py<PyDict>,
}

impl Tracked {
    pub fn new(py: Python<'_>, structure: Option<&gst::StructureRef>) -> PyResult<Self> {
        let dict = to_py_dict(py, structure)?;
        // Values are immutable (bool, int, float, str, None), so a shallow copy is a
        // snapshot.
        let original = dict.copy()?;
        Ok(Self {
            dict: dict.unbind(),
            original: original.unbind(),
        })
    }

    /// What Python changed, relative to `structure`, the one this was made from.
    pub fn edit(
        &self,
        py: Python<'_>,
        structure: Option<&gst::StructureRef>,
        what: &str,
    ) -> PyResult<Option<Edit>> {
        diff(self.dict.bind(py), self.original.bind(py), structure, what)
    }
}

/// A structure's fields as a dict (see `values::to_py`).
pub fn to_py_dict<'py>(
    py: Python<'py>,
    structure: Option<&gst::StructureRef>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let Some(structure) = structure else {
        return Ok(dict);
    };
    let mut result = Ok(());
    for_each_field(structure, |quark, value| {
        result = values::to_py(py, value)
            .map_err(|e| name_field(py, e, quark.as_str().as_str()))
            .and_then(|v| dict.set_item(quark.as_str().as_str(), v));
        if result.is_ok() {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
    result.map(|()| dict)
}

/// `error` about a field's value, with the field named (the dict's owner is named
/// by whoever reports it).
fn name_field(py: Python<'_>, error: PyErr, field: &str) -> PyErr {
    let message = error.value(py).to_string();
    PyErr::from_type(error.get_type(py), format!("field '{field}': {message}"))
}

/// Changes to a structure: new values of existing fields and removed fields, both in
/// field order, and added fields in the dict's order.
#[derive(Debug, Default)]
pub struct Edit {
    replaced: Vec<(glib::Quark, glib::SendValue)>,
    removed: Vec<glib::Quark>,
    added: Vec<(glib::Quark, glib::SendValue)>,
}

impl Edit {
    pub fn is_empty(&self) -> bool {
        self.replaced.is_empty() && self.removed.is_empty() && self.added.is_empty()
    }

    /// An edit that turns an empty structure into `dict` (a new object's attributes).
    pub fn from_dict(dict: &Bound<'_, PyDict>, what: &str) -> PyResult<Self> {
        diff(dict, &PyDict::new(dict.py()), None, what).map(Option::unwrap_or_default)
    }

    /// Applies the edit to `structure` in place.
    pub fn apply_to(self, structure: &mut gst::StructureRef) {
        if !self.replaced.is_empty() {
            let mut replaced = self.replaced.into_iter().peekable();
            let _ = structure.map_in_place(|quark, value| {
                if replaced.peek().is_some_and(|(q, _)| *q == quark) {
                    *value = replaced.next().expect("peeked").1.into();
                }
                ControlFlow::Continue(())
            });
            // Only if the structure is not the one the edit was made from.
            for (quark, value) in replaced {
                set_field(structure, quark, value);
            }
        }
        if !self.removed.is_empty() {
            let mut removed = self.removed.iter().peekable();
            structure.filter_map_in_place(|quark, value| {
                if removed.peek().is_some_and(|q| **q == quark) {
                    removed.next();
                    None
                } else {
                    Some(value)
                }
            });
        }
        for (quark, value) in self.added {
            set_field(structure, quark, value);
        }
    }

    /// The edited structure, built anew: for edits that add or remove many fields.
    fn rebuild(self, name: &str, structure: Option<&gst::StructureRef>) -> gst::Structure {
        let mut fields = Vec::new();
        if let Some(structure) = structure {
            let mut replaced = self.replaced.into_iter().peekable();
            let mut removed = self.removed.iter().peekable();
            for_each_field(structure, |quark, value| {
                if removed.peek().is_some_and(|q| **q == quark) {
                    removed.next();
                } else if replaced.peek().is_some_and(|(q, _)| *q == quark) {
                    fields.push(replaced.next().expect("peeked"));
                } else {
                    fields.push((quark, value.clone()));
                }
                ControlFlow::Continue(())
            });
        }
        fields.extend(self.added);
        build(name, fields)
    }
}

/// What changed in `dict` relative to `original`, the snapshot made from `structure`.
pub fn diff(
    dict: &Bound<'_, PyDict>,
    original: &Bound<'_, PyDict>,
    structure: Option<&gst::StructureRef>,
    what: &str,
) -> PyResult<Option<Edit>> {
    let mut edit = Edit::default();
    let mut kept = 0;
    if let Some(structure) = structure {
        // The snapshot was made from this structure: same keys, same order.
        if structure.n_fields() != original.len() {
            return Err(PyRuntimeError::new_err(format!(
                "{what}: the buffer's fields changed while the frame was in Python"
            )));
        }
        let mut originals = original.iter();
        let mut result: PyResult<()> = Ok(());
        for_each_field(structure, |quark, value| {
            let Some((key, before)) = originals.next() else {
                return ControlFlow::Break(());
            };
            result = (|| {
                match dict.get_item(&key)? {
                    None => edit.removed.push(quark),
                    Some(now) if values::unchanged(&now, &before)? => kept += 1,
                    Some(now) => edit.replaced.push((
                        quark,
                        values::to_value(&now, Some(value.type_()), &|| {
                            format!("{what}['{}']", quark.as_str())
                        })?,
                    )),
                }
                Ok(())
            })();
            if result.is_ok() {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        });
        result?;
    }
    if dict.len() > kept + edit.replaced.len() {
        for (key, value) in dict.iter() {
            if original.contains(&key)? {
                continue;
            }
            let key = key.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{what} keys must be str, got {}",
                    values::type_name(&key)
                ))
            })?;
            let key = values::text(key, &|| format!("{what} key {key:?}"))?;
            let value = values::to_value(&value, None, &|| format!("{what}['{key}']"))?;
            edit.added
                .push((glib::Quark::from_str(key.as_str()), value));
        }
    }
    Ok((!edit.is_empty()).then_some(edit))
}

/// Applies an edit of the buffer's attributes; a set left empty removes the meta.
pub fn apply(buffer: &mut gst::BufferRef, edit: Edit) {
    let existing = read(buffer).map(|s| (s.n_fields(), s.name().to_string()));
    let remaining =
        existing.as_ref().map_or(0, |(n, _)| *n) - edit.removed.len() + edit.added.len();
    if remaining == 0 {
        if let Ok(meta) = gst::meta::CustomMeta::from_mut_buffer(buffer, META_NAME) {
            let _ = meta.remove();
        }
        return;
    }
    if edit.added.len() > BULK || edit.removed.len() > BULK {
        let name = existing.map_or_else(|| META_NAME.to_owned(), |(_, name)| name);
        let structure = edit.rebuild(&name, read(buffer));
        replace_custom_meta_structure(buffer, META_NAME, structure);
        return;
    }
    if let Some(mut meta) = meta_mut(buffer) {
        edit.apply_to(meta.mut_structure());
    }
}

/// The buffer's attributes meta, added when it has none.
fn meta_mut(
    buffer: &mut gst::BufferRef,
) -> Option<gst::meta::MetaRefMut<'_, gst::meta::CustomMeta, gst::meta::Standalone>> {
    if read(buffer).is_none() {
        return gst::meta::CustomMeta::add(buffer, META_NAME).ok();
    }
    gst::meta::CustomMeta::from_mut_buffer(buffer, META_NAME).ok()
}

/// Sets `key` to `value` unless the buffer's attributes already have it (what a
/// stage or producer put there wins).
pub fn set_if_absent(buffer: &mut gst::BufferRef, key: &str, value: impl Into<glib::SendValue>) {
    if read(buffer).is_some_and(|s| s.has_field(key)) {
        return;
    }
    if let Some(mut meta) = meta_mut(buffer) {
        meta.mut_structure().set_value(key, value.into());
    }
}

/// Quarks are GStreamer 1.22's field names (the IdStr API is 1.26's).
fn set_field(structure: &mut gst::StructureRef, quark: glib::Quark, value: glib::SendValue) {
    #[allow(deprecated)]
    structure.set_value_by_quark(quark, value);
}

/// How many layouts `build` keeps per thread: stages without a queue between them
/// share a streaming thread, and each may write its own set of keys.
const LAYOUTS: usize = 4;

thread_local! {
    /// Structures `build` made on this thread with their field names, most recent
    /// first: a stage that writes the same keys every frame copies one (linear)
    /// instead of adding the fields one by one (quadratic in GStreamer).
    static LAYOUT_CACHE: RefCell<Vec<(Vec<glib::Quark>, gst::Structure)>> =
        const { RefCell::new(Vec::new()) };
}

/// A structure named `name` with `fields`, in order.
pub fn build(name: &str, fields: Vec<(glib::Quark, glib::SendValue)>) -> gst::Structure {
    LAYOUT_CACHE.with_borrow_mut(|cache| {
        let same_layout = |(names, template): &(Vec<glib::Quark>, gst::Structure)| {
            names.len() == fields.len()
                && template.name() == name
                && names.iter().zip(&fields).all(|(a, (b, _))| a == b)
        };
        if let Some(found) = cache.iter().position(same_layout) {
            cache[..=found].rotate_right(1);
            let mut structure = cache[0].1.clone();
            let mut values = fields.into_iter();
            let _ = structure.map_in_place(|_, value| {
                if let Some((_, new)) = values.next() {
                    *value = new.into();
                }
                ControlFlow::Continue(())
            });
            return structure;
        }
        let names: Vec<_> = fields.iter().map(|(q, _)| *q).collect();
        let mut structure = gst::Structure::new_empty(name);
        for (quark, value) in fields {
            set_field(&mut structure, quark, value);
        }
        if names.len() > BULK {
            cache.truncate(LAYOUTS - 1);
            cache.insert(0, (names, structure.clone()));
        }
        structure
    })
}

/// Puts `structure` into the buffer's custom meta `meta_name` (added if missing) as a
/// whole: the linear way to replace many fields, since filling the meta's own
/// structure field by field scans it for every field.
pub fn replace_custom_meta_structure(
    buffer: &mut gst::BufferRef,
    meta_name: &str,
    mut structure: gst::Structure,
) {
    let refcount = buffer.as_mut_ptr();
    let mut meta = match gst::meta::CustomMeta::from_mut_buffer(buffer, meta_name) {
        Ok(meta) => meta,
        Err(_) => match gst::meta::CustomMeta::add(buffer, meta_name) {
            Ok(meta) => meta,
            Err(_) => return,
        },
    };
    structure.set_name(meta.structure().name());
    // CustomMeta is a transparent wrapper of the C struct.
    let cmeta = (&mut *meta as *mut gst::meta::CustomMeta).cast::<gst::ffi::GstCustomMeta>();
    // SAFETY: this is what GStreamer's own copy transform of custom metas does
    // (gstmeta.c custom_transform_func): the meta owns `structure`, whose parent
    // refcount is the buffer's; the buffer is writable (we hold a MetaRefMut of it),
    // so nobody else reads the old structure while it is freed and replaced.
    unsafe {
        let old = (*cmeta).structure;
        gst::ffi::gst_structure_set_parent_refcount(old, std::ptr::null_mut());
        gst::ffi::gst_structure_free(old);
        let new = structure.into_glib_ptr();
        gst::ffi::gst_structure_set_parent_refcount(new, &mut (*refcount).mini_object.refcount);
        (*cmeta).structure = new;
    }
}
