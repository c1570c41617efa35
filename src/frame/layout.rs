//! How a raw video frame's bytes form arrays: per format, the planes and their shape.
//! Derived once per caps; per buffer only offsets and strides may change (VideoMeta).

use std::ffi::CStr;

pub const MAX_PLANES: usize = 3;

/// One plane as an array: `rows x columns x channels` items of `item_size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlaneLayout {
    pub offset: usize,
    pub stride: usize,
    pub rows: usize,
    pub columns: usize,
    /// 1 for a 2-D array (h, w), otherwise the last dimension.
    pub channels: usize,
}

/// How the whole frame maps to arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrangement {
    /// One plane; `np.asarray(frame)` is that plane.
    Packed,
    /// Several planes; only `frame.plane(i)` gives arrays.
    Planar,
    /// No array layout (e.g. UYVY, 10-bit formats): metadata only.
    Opaque,
}

#[derive(Debug, Clone, Copy)]
pub struct FrameLayout {
    pub format: gst_video::VideoFormat,
    pub width: u32,
    pub height: u32,
    pub arrangement: Arrangement,
    pub item_size: usize,
    /// Python buffer-protocol format string of one item.
    pub item_format: &'static CStr,
    pub n_planes: usize,
    pub planes: [PlaneLayout; MAX_PLANES],
}

/// The formats `np.asarray(frame)` and `frame.plane(i)` support, for error messages.
pub const ARRAY_FORMATS: &str = "RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, RGB, BGR, \
     GRAY8, GRAY16_LE (np.asarray) and I420, YV12, NV12, NV21, Y444 (frame.plane)";

impl FrameLayout {
    pub fn from_info(info: &gst_video::VideoInfo) -> Self {
        use gst_video::VideoFormat as F;
        let (w, h) = (info.width() as usize, info.height() as usize);
        let (half_w, half_h) = (w.div_ceil(2), h.div_ceil(2));
        let plane = |rows, columns, channels| PlaneLayout {
            offset: 0,
            stride: 0,
            rows,
            columns,
            channels,
        };
        let (arrangement, item_size, item_format, dims): (_, _, &'static CStr, Vec<_>) =
            match info.format() {
                F::Rgba | F::Bgra | F::Rgbx | F::Bgrx | F::Xrgb | F::Xbgr | F::Argb | F::Abgr => {
                    (Arrangement::Packed, 1, c"B", vec![plane(h, w, 4)])
                }
                F::Rgb | F::Bgr => (Arrangement::Packed, 1, c"B", vec![plane(h, w, 3)]),
                F::Gray8 => (Arrangement::Packed, 1, c"B", vec![plane(h, w, 1)]),
                F::Gray16Le => (Arrangement::Packed, 2, c"<H", vec![plane(h, w, 1)]),
                F::I420 | F::Yv12 => (
                    Arrangement::Planar,
                    1,
                    c"B",
                    vec![
                        plane(h, w, 1),
                        plane(half_h, half_w, 1),
                        plane(half_h, half_w, 1),
                    ],
                ),
                F::Nv12 | F::Nv21 => (
                    Arrangement::Planar,
                    1,
                    c"B",
                    vec![plane(h, w, 1), plane(half_h, half_w, 2)],
                ),
                F::Y444 => (
                    Arrangement::Planar,
                    1,
                    c"B",
                    vec![plane(h, w, 1), plane(h, w, 1), plane(h, w, 1)],
                ),
                _ => (Arrangement::Opaque, 1, c"B", vec![]),
            };
        let mut planes = [PlaneLayout::default(); MAX_PLANES];
        for (i, (slot, dim)) in planes.iter_mut().zip(&dims).enumerate() {
            *slot = PlaneLayout {
                offset: info.offset()[i],
                stride: info.stride()[i] as usize,
                ..*dim
            };
        }
        Self {
            format: info.format(),
            width: info.width(),
            height: info.height(),
            arrangement,
            item_size,
            item_format,
            n_planes: dims.len(),
            planes,
        }
    }

    /// Offsets and strides from the buffer's VideoMeta, which decoders and
    /// padding-aware allocators attach when they differ from the caps' defaults.
    pub fn with_video_meta(mut self, buffer: &gst::BufferRef) -> Self {
        if let Some(meta) = buffer.meta::<gst_video::VideoMeta>() {
            for (i, plane) in self.planes.iter_mut().take(self.n_planes).enumerate() {
                plane.offset = meta.offset()[i];
                plane.stride = meta.stride()[i] as usize;
            }
        }
        self
    }

    /// Bytes the plane's last row ends at, to check against the mapped size.
    pub fn plane_end(&self, i: usize) -> usize {
        let p = &self.planes[i];
        if p.rows == 0 {
            return p.offset;
        }
        p.offset + p.stride * (p.rows - 1) + p.columns * p.channels * self.item_size
    }

    pub fn format_name(&self) -> &'static str {
        self.format.to_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(format: gst_video::VideoFormat, w: u32, h: u32) -> FrameLayout {
        gst::init().unwrap();
        FrameLayout::from_info(&gst_video::VideoInfo::builder(format, w, h).build().unwrap())
    }

    #[test]
    fn packed_rgb_rows_are_padded_to_four_bytes() {
        let l = layout(gst_video::VideoFormat::Rgb, 5, 2);
        assert_eq!(l.arrangement, Arrangement::Packed);
        assert_eq!(
            (l.planes[0].rows, l.planes[0].columns, l.planes[0].channels),
            (2, 5, 3)
        );
        assert_eq!(l.planes[0].stride, 16);
        assert_eq!(l.plane_end(0), 16 + 15);
    }

    #[test]
    fn nv12_chroma_plane_is_interleaved_and_rounded_up() {
        let l = layout(gst_video::VideoFormat::Nv12, 5, 3);
        assert_eq!(l.n_planes, 2);
        assert_eq!(
            (l.planes[1].rows, l.planes[1].columns, l.planes[1].channels),
            (2, 3, 2)
        );
    }

    #[test]
    fn formats_without_an_array_layout_are_opaque() {
        let l = layout(gst_video::VideoFormat::Uyvy, 4, 4);
        assert_eq!(l.arrangement, Arrangement::Opaque);
        assert_eq!(l.n_planes, 0);
    }
}
