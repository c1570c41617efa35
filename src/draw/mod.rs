//! Drawing in Rust: draw specs, the display list, shapes, text and blur on raw
//! frames (packed RGB formats, I420, NV12).

pub(crate) mod artist;
pub mod canvas;
pub mod color;
pub mod ops;
pub(crate) mod pyformat;
pub mod shapes;
pub mod spec;
pub mod text;
