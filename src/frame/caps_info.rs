//! `savant_gst.CapsInfo`: what `on_caps(info)` receives.

// The Frame and what the parent imports.
use super::*;

/// What `on_caps(info)` receives.
#[pyclass(frozen, module = "savant_gst", get_all)]
pub struct CapsInfo {
    pub width: u32,
    pub height: u32,
    pub format: String,
    /// Frames per second as a float (0.0 for variable rate).
    pub fps: f64,
    pub fps_n: i32,
    pub fps_d: i32,
    /// Pixel aspect ratio, numerator and denominator.
    pub par_n: i32,
    pub par_d: i32,
    /// The colorimetry as GStreamer writes it ("bt709", "sRGB", ...).
    pub colorimetry: String,
    /// The full caps string.
    pub caps: String,
}

impl CapsInfo {
    pub fn new(info: &gst_video::VideoInfo, caps: &gst::CapsRef) -> Self {
        let fps = info.fps();
        Self {
            width: info.width(),
            height: info.height(),
            format: info.format().to_str().to_string(),
            fps: if fps.denom() == 0 {
                0.0
            } else {
                fps.numer() as f64 / fps.denom() as f64
            },
            fps_n: fps.numer(),
            fps_d: fps.denom(),
            par_n: info.par().numer(),
            par_d: info.par().denom(),
            colorimetry: info.colorimetry().to_string(),
            caps: caps.to_string(),
        }
    }
}

#[pymethods]
impl CapsInfo {
    fn __repr__(&self) -> String {
        format!(
            "<savant_gst.CapsInfo {}x{} {} {}/{} fps>",
            self.width, self.height, self.format, self.fps_n, self.fps_d
        )
    }
}
