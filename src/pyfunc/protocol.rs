//! savantpyfunc's two ways of calling Python (the rest of the per-frame protocol is
//! `stage::call`): `process(frame)` for one frame, `process_batch(frames)` for a
//! batch.

use pyo3::prelude::*;
use smallvec::smallvec;

use crate::frame::Frame;
use crate::python::loader::{StageError, UserInstance};
use crate::stage::call::{raised, verdict_of, Protocol, Verdict, Verdicts};

/// `process(frame)`: True or None pass, False drops.
pub struct FrameCall;

impl Protocol for FrameCall {
    type Kept = ();

    #[inline(always)]
    fn call<'py>(
        &mut self,
        py: Python<'py>,
        hooks: &UserInstance,
        frames: &[Bound<'py, Frame>],
    ) -> Verdicts<()> {
        let verdict = match hooks.process.bind(py).call1((&frames[0],)) {
            Err(e) => Verdict::Failed(raised(py, hooks, &e)),
            Ok(result) => verdict_of(hooks, &result, || ()),
        };
        smallvec![verdict]
    }
}

/// `process_batch(frames)`: one call for the list of frames; it returns None (all
/// pass) or one verdict per frame.
pub struct BatchCall;

impl Protocol for BatchCall {
    type Kept = ();
    const BATCH: bool = true;
    const NAME: &'static str = "process_batch";

    fn call<'py>(
        &mut self,
        py: Python<'py>,
        hooks: &UserInstance,
        frames: &[Bound<'py, Frame>],
    ) -> Verdicts<()> {
        let n = frames.len();
        let all = |error: StageError| (0..n).map(|_| Verdict::Failed(error.clone())).collect();
        let list = match pyo3::types::PyList::new(py, frames) {
            Ok(list) => list,
            Err(e) => {
                return all(crate::stage::call::failure(
                    py,
                    hooks,
                    "creating the batch",
                    &e,
                ))
            }
        };
        let result = match hooks.process.bind(py).call1((&list,)) {
            Err(e) => return all(raised(py, hooks, &e)),
            Ok(result) if result.is_none() => return (0..n).map(|_| Verdict::Pass(())).collect(),
            Ok(result) => result,
        };
        // An iterable of verdicts; one that raises while iterated (a generator) is
        // that exception. At most one item past the frames is taken: an endless
        // iterator (itertools.repeat) is a wrong count, not a loop holding the GIL
        // while memory grows.
        let items = match result.try_iter() {
            Err(_) => None,
            Ok(it) => match it.take(n + 1).collect::<PyResult<Vec<_>>>() {
                Ok(items) => Some(items),
                Err(e) => {
                    return all(StageError::python(
                        py,
                        format!(
                            "module {}: iterating what {}() returned raised",
                            hooks.module_name, hooks.process_name
                        ),
                        &e,
                    ))
                }
            },
        };
        match items {
            Some(items) if items.len() == n => items
                .iter()
                .enumerate()
                .map(|(i, item)| match crate::frame::values::keeps_frame(item) {
                    Some(true) => Verdict::Pass(()),
                    Some(false) => Verdict::Drop,
                    // The same message for every such frame (the frame and the
                    // value in the details): on-error=skip/drop report it once per
                    // interval, not once per frame.
                    None => Verdict::Failed(StageError {
                        message: format!(
                            "module {}: {}() returned a verdict that is not a boolean ({})",
                            hooks.module_name,
                            hooks.process_name,
                            crate::frame::values::type_name(item)
                        ),
                        traceback: Some(format!(
                            "frame {i} of {n}: {}",
                            // Bounded: a verdict may be any object, a huge string too.
                            item.repr()
                                .map(|r| r.to_string().chars().take(200).collect::<String>())
                                .unwrap_or_default()
                        )),
                    }),
                })
                .collect(),
            _ => all(StageError::plain(format!(
                "module {}: {}() returned {} for {} frames (expected None or a list of {} \
                 booleans)",
                hooks.module_name,
                hooks.process_name,
                returned(&result),
                n,
                n
            ))),
        }
    }
}

/// What a wrong `process_batch` result was, for the error: a sized one by its type
/// and length (the repr of a list of ten million booleans was a 60 MB message, and
/// took seconds to make with the GIL held), anything else by its repr, cut short.
fn returned(result: &Bound<'_, PyAny>) -> String {
    match result.len() {
        Ok(len) => format!(
            "a {} of {len} items",
            crate::frame::values::type_name(result)
        ),
        Err(_) => result
            .repr()
            .map(|r| r.to_string().chars().take(200).collect())
            .unwrap_or_default(),
    }
}
