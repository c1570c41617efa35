//! How a raw video frame's bytes form arrays: per format, the planes and their shape.
//! Derived once per caps; per buffer only offsets and strides may change (VideoMeta),
//! and those come from whoever made the buffer, so they are checked before use.

use std::ffi::CStr;
use std::fmt;

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
    /// GStreamer's plane count for the format (also for opaque ones), which a
    /// VideoMeta must agree with.
    pub format_planes: usize,
    /// The caps say `memory:CUDAMemory`: the planes are in device memory.
    pub cuda: bool,
    /// Bytes a buffer needs for the caps' own layout (no VideoMeta), checked once
    /// when the caps came; `usize::MAX` when that layout did not check out, so every
    /// buffer takes the full check.
    caps_end: usize,
}

/// Every format with an array layout, in the order a stage prefers them: the common,
/// cheap ones first (packed 8-bit RGB, then 4:2:0), so a source that offers many
/// (videotestsrc, videoconvert) picks one of those.
pub const FRAME_FORMATS: &[&str] = &[
    "RGBA",
    "BGRx",
    "BGR",
    "I420",
    "NV12",
    "BGRA",
    "RGBx",
    "RGB",
    "xRGB",
    "xBGR",
    "ARGB",
    "ABGR",
    "GRAY8",
    "GRAY16_LE",
    "YV12",
    "NV21",
    "Y444",
];

/// The formats `np.asarray(frame)` and `frame.plane(i)` support, for error messages.
pub const ARRAY_FORMATS: &str = "RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, RGB, BGR, \
     GRAY8, GRAY16_LE (np.asarray) and I420, YV12, NV12, NV21, Y444 (frame.plane)";

/// Why a buffer's layout (caps plus its VideoMeta) cannot be used: arrays over it
/// would reach outside its memory, or its metadata contradicts the caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The VideoMeta describes another format, fewer pixels or another plane count.
    MetaDisagrees {
        caps: String,
        meta: String,
    },
    NegativeStride {
        plane: usize,
        stride: i32,
    },
    /// Rows would overlap each other.
    StrideBelowRow {
        plane: usize,
        stride: usize,
        row_bytes: usize,
    },
    /// The plane's last row ends past the buffer (or its end overflows).
    PastEnd {
        plane: usize,
        offset: usize,
        stride: usize,
        rows: usize,
        row_bytes: usize,
        size: usize,
    },
    Overlap {
        first: usize,
        second: usize,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MetaDisagrees { caps, meta } => write!(
                f,
                "buffer layout disagrees with the caps: caps say {caps}, the buffer's \
                 video meta says {meta}"
            ),
            Self::NegativeStride { plane, stride } => write!(
                f,
                "buffer layout not supported: plane {plane} has a negative stride ({stride})"
            ),
            Self::StrideBelowRow {
                plane,
                stride,
                row_bytes,
            } => write!(
                f,
                "buffer layout does not fit its memory: plane {plane} stride {stride} is \
                 smaller than a row of {row_bytes} bytes"
            ),
            Self::PastEnd {
                plane,
                offset,
                stride,
                rows,
                row_bytes,
                size,
            } => write!(
                f,
                "buffer layout does not fit its memory: plane {plane} offset {offset} \
                 stride {stride} rows {rows} (of {row_bytes} bytes) ends past the \
                 buffer's {size} bytes"
            ),
            Self::Overlap { first, second } => write!(
                f,
                "buffer layout does not fit its memory: planes {first} and {second} overlap"
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

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
        let mut layout = Self {
            format: info.format(),
            width: info.width(),
            height: info.height(),
            arrangement,
            item_size,
            item_format,
            n_planes: dims.len(),
            planes,
            format_planes: info.n_planes() as usize,
            cuda: false,
            caps_end: usize::MAX,
        };
        if layout.check_fits(usize::MAX).is_ok() {
            layout.caps_end = (0..layout.n_planes)
                .filter_map(|i| layout.plane_end(i))
                .max()
                .unwrap_or(0);
        }
        layout
    }

    /// The layout of caps: `from_info`, in CUDA memory when the caps have the
    /// `memory:CUDAMemory` feature.
    pub fn from_caps(info: &gst_video::VideoInfo, caps: &gst::CapsRef) -> Self {
        let mut layout = Self::from_info(info);
        layout.cuda = caps
            .features(0)
            .is_some_and(|f| f.contains(crate::cuda::CAPS_FEATURE_CUDA_MEMORY));
        layout
    }

    /// The layout of this buffer's bytes: the caps' layout with the offsets and
    /// strides of its VideoMeta (decoders and padding-aware allocators attach one
    /// when they differ from the caps' defaults), checked against the buffer's size.
    /// Every array or canvas over a buffer comes from here, so a crafted meta is an
    /// error, never a read or write outside the memory.
    ///
    /// # Errors
    ///
    /// A VideoMeta that disagrees with the caps (format, size, plane count), or
    /// planes that do not fit the buffer's memory or overlap.
    #[inline]
    pub fn for_buffer(&self, buffer: &gst::BufferRef) -> Result<Self, LayoutError> {
        let mut layout = *self;
        layout.fit_to(buffer)?;
        Ok(layout)
    }

    /// [`FrameLayout::for_buffer`] in place, on a copy of the caps' layout (a frame's
    /// own, where each move of its 200 bytes costs a call to memcpy).
    ///
    /// # Errors
    ///
    /// As [`FrameLayout::for_buffer`]; the layout is then not to be used.
    #[inline]
    pub fn fit_to(&mut self, buffer: &gst::BufferRef) -> Result<(), LayoutError> {
        if let Some(meta) = buffer.meta::<gst_video::VideoMeta>() {
            self.apply_meta(&meta)?;
            return self.check_fits(buffer.size());
        }
        // The caps' own layout was checked when the caps came: only the buffer's size
        // can disagree (the full check then names the plane).
        if buffer.size() < self.caps_end {
            self.check_fits(buffer.size())?;
        }
        Ok(())
    }

    /// Takes a VideoMeta's offsets and strides, as `gst_video_frame_map` does: same
    /// format and plane count, at least as many pixels as the caps.
    fn apply_meta(&mut self, meta: &gst_video::VideoMeta) -> Result<(), LayoutError> {
        if meta.format() != self.format
            || meta.n_planes() as usize != self.format_planes
            || meta.width() < self.width
            || meta.height() < self.height
        {
            return Err(LayoutError::MetaDisagrees {
                caps: format!(
                    "{}x{} {} in {} plane(s)",
                    self.width,
                    self.height,
                    self.format_name(),
                    self.format_planes
                ),
                meta: format!(
                    "{}x{} {} in {} plane(s)",
                    meta.width(),
                    meta.height(),
                    meta.format().to_str(),
                    meta.n_planes()
                ),
            });
        }
        // n_planes was checked above, so these slices have an entry per plane.
        let (offsets, strides) = (meta.offset(), meta.stride());
        for (i, plane) in self.planes.iter_mut().take(self.n_planes).enumerate() {
            plane.offset = offsets[i];
            plane.stride =
                usize::try_from(strides[i]).map_err(|_| LayoutError::NegativeStride {
                    plane: i,
                    stride: strides[i],
                })?;
        }
        Ok(())
    }

    /// Every plane lies inside `size` bytes, rows do not overlap each other, and
    /// planes do not overlap each other (a writable array of one plane must never
    /// write into another).
    ///
    /// # Errors
    ///
    /// The first plane or row that lies outside `size` or overlaps another.
    pub fn check_fits(&self, size: usize) -> Result<(), LayoutError> {
        let mut spans = [(0usize, 0usize, 0usize); MAX_PLANES];
        for (i, span) in spans.iter_mut().enumerate().take(self.n_planes) {
            let p = &self.planes[i];
            let row_bytes = self.row_bytes(i);
            if p.rows > 1 && p.stride < row_bytes {
                return Err(LayoutError::StrideBelowRow {
                    plane: i,
                    stride: p.stride,
                    row_bytes,
                });
            }
            let end = self
                .plane_end(i)
                .filter(|&end| end <= size)
                .ok_or(LayoutError::PastEnd {
                    plane: i,
                    offset: p.offset,
                    stride: p.stride,
                    rows: p.rows,
                    row_bytes,
                    size,
                })?;
            *span = (p.offset, end, i);
        }
        let spans = &mut spans[..self.n_planes];
        spans.sort_unstable();
        for pair in spans.windows(2) {
            let ((_, first_end, first), (second_start, _, second)) = (pair[0], pair[1]);
            if second_start < first_end {
                return Err(LayoutError::Overlap {
                    first: first.min(second),
                    second: first.max(second),
                });
            }
        }
        Ok(())
    }

    /// Bytes of one row of plane `i` (without padding).
    pub fn row_bytes(&self, i: usize) -> usize {
        let p = &self.planes[i];
        // Dimensions come from caps (u32 width/height, at most 4 channels of 2 bytes).
        p.columns * p.channels * self.item_size
    }

    /// The byte the plane's last row ends at; None when that overflows.
    pub fn plane_end(&self, i: usize) -> Option<usize> {
        let p = &self.planes[i];
        if p.rows == 0 {
            return Some(p.offset);
        }
        p.stride
            .checked_mul(p.rows - 1)?
            .checked_add(self.row_bytes(i))?
            .checked_add(p.offset)
    }

    /// The planes of `data` (a mapping of the buffer this layout was checked
    /// against) as separate mutable slices, each from its offset to its last row's
    /// end. None if they overlap or do not fit, which `check_fits` already ruled out.
    pub fn split_planes_mut<'a>(&self, data: &'a mut [u8]) -> Option<[&'a mut [u8]; MAX_PLANES]> {
        let mut order: [usize; MAX_PLANES] = [0, 1, 2];
        let order = &mut order[..self.n_planes];
        order.sort_unstable_by_key(|&i| self.planes[i].offset);
        let mut planes: [&'a mut [u8]; MAX_PLANES] = Default::default();
        let mut rest = data;
        let mut consumed = 0usize;
        for &i in order.iter() {
            let p = &self.planes[i];
            let end = self.plane_end(i)?;
            let skip = p.offset.checked_sub(consumed)?;
            let len = end - p.offset;
            if skip.checked_add(len)? > rest.len() {
                return None;
            }
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(skip);
            let (plane, tail) = tail.split_at_mut(len);
            planes[i] = plane;
            rest = tail;
            consumed = end;
        }
        Some(planes)
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
        assert_eq!(l.plane_end(0), Some(16 + 15));
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

    #[test]
    fn planes_split_into_slices_from_offset_to_last_row() {
        let l = layout(gst_video::VideoFormat::I420, 4, 4);
        // Chroma rows of 2 bytes padded to a stride of 4: 16 + 8 + 8 bytes.
        let mut data = vec![0u8; 32];
        assert_eq!(l.check_fits(32), Ok(()));
        let [y, u, v] = l.split_planes_mut(&mut data).unwrap();
        assert_eq!((y.len(), u.len(), v.len()), (16, 6, 6));
        assert!(l.split_planes_mut(&mut data[..29]).is_none());
        assert!(l.check_fits(29).is_err());
    }

    #[test]
    fn a_wrapping_end_does_not_fit() {
        let mut l = layout(gst_video::VideoFormat::Gray8, 4, 4);
        l.planes[0].offset = usize::MAX - 3;
        assert_eq!(l.plane_end(0), None);
        assert!(matches!(
            l.check_fits(16),
            Err(LayoutError::PastEnd { plane: 0, .. })
        ));
    }
}
