"""Savant's ``Artist`` and ``Position`` over ``savant_gst.Artist``.

Savant's calls with Savant's defaults (``add_text`` centred on its anchor on
black, ``add_bbox`` 3 px wide, ``add_line`` 3 px), points and colours as lists or
tuples, boxes as ``BBox``/``RBBox`` (an object's ``.bbox``), any object with
``left``, ``top``, ``width`` and ``height``, or an ``(x, y, w, h)`` tuple. Calls
only record; savantdrawfunc draws them after the hook, in Rust. ``frame_wh`` is
the frame's size. ``add_graphic`` (a GPU sprite) has no equivalent.
"""

from enum import Enum

from ... import unsupported
from ...meta.bbox import RBBox

LINE_AA = 16  # cv2.LINE_AA: edges here are always smooth


class Position(Enum):
    """Which point of a text box its anchor is."""

    CENTER = 1
    LEFT_TOP = 2
    CENTER_TOP = 3
    RIGHT_TOP = 4
    LEFT_CENTER = 5
    RIGHT_CENTER = 6
    LEFT_BOTTOM = 7
    CENTER_BOTTOM = 8
    RIGHT_BOTTOM = 9


def _color(color):
    if color is None or isinstance(color, str):
        return color
    return tuple(int(channel) for channel in color)


def _point(point):
    return float(point[0]), float(point[1])


def _box(bbox):
    if isinstance(bbox, (list, tuple)):
        return tuple(float(v) for v in bbox)
    return bbox


def _padding(padding):
    return padding if isinstance(padding, (int, float)) else tuple(padding)


class Artist:
    """What ``NvDsDrawFunc.draw_on_frame`` draws with."""

    def __init__(self, artist, frame_wh):
        self._artist = artist
        self.width, self.height = frame_wh

    def __enter__(self):
        return self

    def __exit__(self, *exc_details):
        return False

    @property
    def frame_wh(self):
        return self.width, self.height

    def add_text(self, text, anchor, font_scale=0.5, font_thickness=1,
                 font_color=(255, 255, 255, 255), border_width=0,
                 border_color=(255, 0, 0, 255), bg_color=(0, 0, 0, 255),
                 padding=(0, 0, 0, 0), anchor_point_type=Position.CENTER):
        return self._artist.add_text(
            str(text), _point(anchor), font_scale, font_thickness, _color(font_color),
            border_width, _color(border_color), _color(bg_color), _padding(padding),
            anchor_point_type)

    def add_bbox(self, bbox, border_width=3, border_color=(0, 255, 0, 255), bg_color=None,
                 padding=(0, 0, 0, 0)):
        if isinstance(bbox, RBBox) and bbox.angle:
            padded = RBBox(bbox.xc + (padding[2] - padding[0]) / 2,
                           bbox.yc + (padding[3] - padding[1]) / 2,
                           bbox.width + padding[0] + padding[2],
                           bbox.height + padding[1] + padding[3], bbox.angle)
            return self.add_polygon(padded.vertices, border_width, border_color, bg_color)
        if border_width <= 0:
            border_width, border_color = 0, (0, 0, 0, 0)
        self._artist.add_bbox(_box(bbox), border_width, _color(border_color),
                              _color(bg_color), _padding(padding))

    def add_rounded_rect(self, bbox, radius, bg_color):
        self._artist.add_rounded_rect(_box(bbox), radius, _color(bg_color))

    def add_circle(self, center, radius, color, thickness, line_type=LINE_AA):
        self._artist.add_circle(_point(center), radius, _color(color), thickness)

    def add_line(self, pt1, pt2, color=(255, 0, 0, 255), thickness=3, type=LINE_AA):
        self._artist.add_line(_point(pt1), _point(pt2), _color(color), thickness)

    def add_polygon(self, vertices, line_width=3, line_color=(255, 0, 0, 255), bg_color=None):
        self._artist.add_polygon([_point(p) for p in vertices], line_width,
                                 _color(line_color), _color(bg_color))

    def blur(self, bbox, padding=(0, 0, 0, 0), sigma=None):
        self._artist.blur(_box(bbox), _padding(padding), sigma)

    def add_graphic(self, img, origin):
        raise unsupported('Artist.add_graphic (GPU sprites)',
                          'draw the image with numpy in a savantpyfunc with writable=true')

    def copy_frame_region(self, bbox, padding=(0, 0, 0, 0)):
        raise unsupported('Artist.copy_frame_region (a GpuMat)',
                          'copy the region from np.asarray(frame) in a savantpyfunc')
