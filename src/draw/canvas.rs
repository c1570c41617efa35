//! Where drawing lands: the planes of a mapped video frame, with clipping and alpha
//! blending. Packed RGB formats blend per channel; I420 and NV12 blend luma per pixel
//! and chroma once per 2x2 block (at the block's top-left pixel).

use super::color::Rgba;

/// Channel positions of a packed RGB format.
#[derive(Debug, Clone, Copy)]
pub struct PackedOrder {
    pub bytes_per_pixel: usize,
    pub r: usize,
    pub g: usize,
    pub b: usize,
    pub a: Option<usize>,
}

pub enum Planes<'a> {
    Packed {
        data: &'a mut [u8],
        stride: usize,
        order: PackedOrder,
    },
    /// I420 and NV12: full-size luma, chroma at half size each way.
    Yuv420 {
        y: &'a mut [u8],
        y_stride: usize,
        chroma: Chroma<'a>,
    },
}

/// The chroma of a 4:2:0 frame: I420's two planes or NV12's interleaved one. All
/// that differs between the two formats is here.
pub enum Chroma<'a> {
    Planar {
        u: &'a mut [u8],
        u_stride: usize,
        v: &'a mut [u8],
        v_stride: usize,
    },
    Interleaved {
        uv: &'a mut [u8],
        uv_stride: usize,
    },
}

impl Chroma<'_> {
    /// Blends `(cu, cv)` into the chroma of luma row `y` (even), over pixels `xs`:
    /// once per 2x2 block, at the block's top-left pixel.
    fn blend_row(&mut self, y: usize, xs: std::ops::Range<usize>, (cu, cv): (u8, u8), alpha: u32) {
        let blocks = (xs.start.next_multiple_of(2)..xs.end).step_by(2);
        match self {
            Chroma::Planar {
                u,
                u_stride,
                v,
                v_stride,
            } => {
                for x in blocks {
                    mix(&mut u[y / 2 * *u_stride + x / 2], cu, alpha);
                    mix(&mut v[y / 2 * *v_stride + x / 2], cv, alpha);
                }
            }
            Chroma::Interleaved { uv, uv_stride } => {
                for x in blocks {
                    let i = y / 2 * *uv_stride + x;
                    mix(&mut uv[i], cu, alpha);
                    mix(&mut uv[i + 1], cv, alpha);
                }
            }
        }
    }

    /// Blurs both chroma channels over `half` (the luma region halved).
    fn blur(&mut self, half: &Region, radius: usize) {
        match self {
            Chroma::Planar {
                u,
                u_stride,
                v,
                v_stride,
            } => {
                blur_channel(u, *u_stride, 1, 0, half, radius);
                blur_channel(v, *v_stride, 1, 0, half, radius);
            }
            Chroma::Interleaved { uv, uv_stride } => {
                for channel in 0..2 {
                    blur_channel(uv, *uv_stride, 2, channel, half, radius);
                }
            }
        }
    }
}

pub struct Canvas<'a> {
    pub width: i32,
    pub height: i32,
    pub planes: Planes<'a>,
}

/// The formats savantdrawfunc draws on.
pub fn packed_order(format: gst_video::VideoFormat) -> Option<PackedOrder> {
    use gst_video::VideoFormat as F;
    let order = |bytes_per_pixel, r, g, b, a| PackedOrder {
        bytes_per_pixel,
        r,
        g,
        b,
        a,
    };
    Some(match format {
        F::Rgba => order(4, 0, 1, 2, Some(3)),
        F::Bgra => order(4, 2, 1, 0, Some(3)),
        F::Rgbx => order(4, 0, 1, 2, None),
        F::Bgrx => order(4, 2, 1, 0, None),
        F::Rgb => order(3, 0, 1, 2, None),
        F::Bgr => order(3, 2, 1, 0, None),
        _ => return None,
    })
}

/// dst + (src - dst) * alpha / 255, rounded, without a division.
#[inline]
fn mix(dst: &mut u8, src: u8, alpha: u32) {
    let t = *dst as u32 * (255 - alpha) + src as u32 * alpha + 128;
    *dst = ((t + (t >> 8)) >> 8) as u8;
}

/// The luma half of a span on I420 and NV12 ([`Chroma`] has the other half).
#[inline]
fn blend_luma_row(
    luma: &mut [u8],
    stride: usize,
    y: usize,
    xs: std::ops::Range<usize>,
    value: u8,
    alpha: u32,
) {
    for p in &mut luma[y * stride + xs.start..y * stride + xs.end] {
        mix(p, value, alpha);
    }
}

#[inline]
fn blend_packed(p: &mut [u8], order: &PackedOrder, color: Rgba, alpha: u32) {
    if alpha == 255 {
        p[order.r] = color.r;
        p[order.g] = color.g;
        p[order.b] = color.b;
        if let Some(a) = order.a {
            p[a] = 255;
        }
        return;
    }
    mix(&mut p[order.r], color.r, alpha);
    mix(&mut p[order.g], color.g, alpha);
    mix(&mut p[order.b], color.b, alpha);
    if let Some(a) = order.a {
        p[a] = (p[a] as u32 + (255 - p[a] as u32) * alpha / 255) as u8;
    }
}

impl Canvas<'_> {
    /// Blends `color` at `coverage` (0-255) over pixels x0..x1 of row y (clipped).
    pub fn blend_span(&mut self, y: i32, x0: i32, x1: i32, color: Rgba, coverage: u8) {
        if y < 0 || y >= self.height {
            return;
        }
        let (x0, x1) = (x0.max(0), x1.min(self.width));
        let alpha = color.a as u32 * coverage as u32 / 255;
        if x0 >= x1 || alpha == 0 {
            return;
        }
        let (x0, x1, y) = (x0 as usize, x1 as usize, y as usize);
        match &mut self.planes {
            Planes::Packed {
                data,
                stride,
                order,
            } => {
                let bpp = order.bytes_per_pixel;
                let row = &mut data[y * *stride + x0 * bpp..y * *stride + x1 * bpp];
                if alpha == 255 && bpp == 4 {
                    // Opaque fills of 4-byte pixels: one pattern, copied.
                    let mut pixel = [0u8; 4];
                    blend_packed(&mut pixel, order, color, 255);
                    for p in row.chunks_exact_mut(4) {
                        p.copy_from_slice(&pixel);
                    }
                } else {
                    for p in row.chunks_exact_mut(bpp) {
                        blend_packed(p, order, color, alpha);
                    }
                }
            }
            Planes::Yuv420 {
                y: luma,
                y_stride,
                chroma,
            } => {
                let (cy, cu, cv) = color.to_yuv();
                blend_luma_row(luma, *y_stride, y, x0..x1, cy, alpha);
                if y % 2 == 0 {
                    chroma.blend_row(y, x0..x1, (cu, cv), alpha);
                }
            }
        }
    }

    /// Blends `color` over row y from x0 on, each pixel at its own coverage (glyphs).
    pub fn blend_coverage(&mut self, y: i32, x0: i32, coverage: &[u8], color: Rgba) {
        if y < 0 || y >= self.height || color.a == 0 {
            return;
        }
        let skip = (-x0).max(0) as usize;
        let end = ((self.width - x0).max(0) as usize).min(coverage.len());
        if skip >= end {
            return;
        }
        if let Planes::Packed {
            data,
            stride,
            order,
        } = &mut self.planes
        {
            let bpp = order.bytes_per_pixel;
            let first = (x0 + skip as i32) as usize;
            let start = y as usize * *stride + first * bpp;
            let row = &mut data[start..start + (end - skip) * bpp];
            let opacity = color.a as u32;
            for (p, &c) in row.chunks_exact_mut(bpp).zip(&coverage[skip..end]) {
                if c != 0 {
                    blend_packed(p, order, color, opacity * c as u32 / 255);
                }
            }
            return;
        }
        for (i, &c) in coverage.iter().enumerate().take(end).skip(skip) {
            if c > 0 {
                let x = x0 + i as i32;
                self.blend_span(y, x, x + 1, color, c);
            }
        }
    }

    /// Box-blurs the rectangle (clipped), three passes: close to a Gaussian.
    pub fn blur(&mut self, x: i32, y: i32, w: i32, h: i32, radius: usize) {
        let (x0, y0) = (x.max(0), y.max(0));
        let (x1, y1) = ((x + w).min(self.width), (y + h).min(self.height));
        if x0 >= x1 || y0 >= y1 || radius == 0 {
            return;
        }
        let region = Region {
            x0: x0 as usize,
            y0: y0 as usize,
            x1: x1 as usize,
            y1: y1 as usize,
        };
        match &mut self.planes {
            Planes::Packed {
                data,
                stride,
                order,
            } => {
                for channel in 0..order.bytes_per_pixel {
                    blur_channel(
                        data,
                        *stride,
                        order.bytes_per_pixel,
                        channel,
                        &region,
                        radius,
                    );
                }
            }
            Planes::Yuv420 {
                y: luma,
                y_stride,
                chroma,
            } => {
                blur_channel(luma, *y_stride, 1, 0, &region, radius);
                chroma.blur(&region.halved(), radius / 2 + 1);
            }
        }
    }
}

struct Region {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl Region {
    fn halved(&self) -> Region {
        Region {
            x0: self.x0 / 2,
            y0: self.y0 / 2,
            x1: self.x1.div_ceil(2),
            y1: self.y1.div_ceil(2),
        }
    }
}

/// Three horizontal then three vertical box-blur passes over one channel.
fn blur_channel(
    data: &mut [u8],
    stride: usize,
    step: usize,
    channel: usize,
    r: &Region,
    radius: usize,
) {
    let (w, h) = (r.x1 - r.x0, r.y1 - r.y0);
    let mut line = vec![0u8; w.max(h)];
    let index = |x: usize, y: usize| y * stride + x * step + channel;
    blur_lines(data, &mut line, r.y0..r.y1, r.x0..r.x1, radius, |y, x| {
        index(x, y)
    });
    blur_lines(data, &mut line, r.x0..r.x1, r.y0..r.y1, radius, index);
}

/// Three box-blur passes over each of `lines`, along the positions `along`: the
/// byte of position `p` on line `l` is `data[index(l, p)]`. Rows and columns alike.
fn blur_lines(
    data: &mut [u8],
    line: &mut [u8],
    lines: std::ops::Range<usize>,
    along: std::ops::Range<usize>,
    radius: usize,
    index: impl Fn(usize, usize) -> usize,
) {
    let line = &mut line[..along.len()];
    for _ in 0..3 {
        for l in lines.clone() {
            for (i, p) in along.clone().enumerate() {
                line[i] = data[index(l, p)];
            }
            box_blur_line(line, radius);
            for (i, p) in along.clone().enumerate() {
                data[index(l, p)] = line[i];
            }
        }
    }
}

/// Sliding-window mean with the edge values repeated.
fn box_blur_line(line: &mut [u8], radius: usize) {
    let n = line.len();
    if n < 2 {
        return;
    }
    let source = line.to_vec();
    let at = |i: isize| source[i.clamp(0, n as isize - 1) as usize] as u32;
    let r = radius as isize;
    let window = 2 * radius as u32 + 1;
    let mut sum: u32 = (-r..=r).map(at).sum();
    for i in 0..n as isize {
        line[i as usize] = ((sum + window / 2) / window) as u8;
        sum += at(i + r + 1);
        sum -= at(i - r);
    }
}
