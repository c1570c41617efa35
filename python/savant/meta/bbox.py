"""Savant's ``BBox`` (axis-aligned) and ``RBBox`` (rotated) boxes, with
``savant_rs.primitives.geometry``'s names: built from the centre,
``BBox(xc, yc, width, height)``, or with ``BBox.ltwh(left, top, width, height)``.

An object's ``bbox`` is live: setting ``left``, ``xc``, ``width``, ... moves the
object (see ``savant.meta.object``). The Artist draws an ``RBBox`` rotated.
"""

import math


def _edge(get, centre_of):
    """A property whose setter gives the new (xc, yc, width, height)."""
    return property(get, lambda s, v: s._set(*centre_of(s, v)))


class BBox:
    """An axis-aligned box; edges are floats."""

    def __init__(self, xc, yc, width, height):
        self._xc, self._yc = float(xc), float(yc)
        self._width, self._height = float(width), float(height)
        self._changed = None

    @classmethod
    def ltwh(cls, left, top, width, height):
        return cls(left + width / 2, top + height / 2, width, height)

    @classmethod
    def ltrb(cls, left, top, right, bottom):
        return cls.ltwh(left, top, right - left, bottom - top)

    def _set(self, xc, yc, width, height):
        self._xc, self._yc = float(xc), float(yc)
        self._width, self._height = float(width), float(height)
        if self._changed is not None:
            self._changed(self)

    xc = _edge(lambda s: s._xc, lambda s, v: (v, s._yc, s._width, s._height))
    yc = _edge(lambda s: s._yc, lambda s, v: (s._xc, v, s._width, s._height))
    width = _edge(lambda s: s._width, lambda s, v: (s._xc, s._yc, v, s._height))
    height = _edge(lambda s: s._height, lambda s, v: (s._xc, s._yc, s._width, v))
    left = _edge(lambda s: s._xc - s._width / 2,
                 lambda s, v: (v + s._width / 2, s._yc, s._width, s._height))
    top = _edge(lambda s: s._yc - s._height / 2,
                lambda s, v: (s._xc, v + s._height / 2, s._width, s._height))
    right = property(lambda s: s._xc + s._width / 2)  # read-only, as in savant_rs
    bottom = property(lambda s: s._yc + s._height / 2)

    def as_ltwh(self):
        return self.left, self.top, self._width, self._height

    def as_ltrb(self):
        return self.left, self.top, self.right, self.bottom

    def as_xcycwh(self):
        return self._xc, self._yc, self._width, self._height

    def as_ltwh_int(self):
        return tuple(round(v) for v in self.as_ltwh())

    def as_ltrb_int(self):
        return tuple(round(v) for v in self.as_ltrb())

    def copy(self):
        return BBox(*self.as_xcycwh())

    @property
    def vertices(self):
        left, top, right, bottom = self.as_ltrb()
        return [(left, top), (right, top), (right, bottom), (left, bottom)]

    def __eq__(self, other):
        return type(other) is type(self) and self._key() == other._key()

    def _key(self):
        return self.as_xcycwh()

    def __repr__(self):
        return '{}(xc={:g}, yc={:g}, width={:g}, height={:g})'.format(
            type(self).__name__, *self.as_xcycwh())


class RBBox(BBox):
    """A box rotated by ``angle`` degrees about its centre (None or 0: not rotated)."""

    def __init__(self, xc, yc, width, height, angle=None):
        super().__init__(xc, yc, width, height)
        self.angle = angle

    def _key(self):
        return (*self.as_xcycwh(), self.angle)

    def copy(self):
        return RBBox(*self._key())

    @property
    def vertices(self):
        radians = math.radians(self.angle or 0.0)
        cos, sin = math.cos(radians), math.sin(radians)
        half_w, half_h = self._width / 2, self._height / 2
        return [(self._xc + x * cos - y * sin, self._yc + x * sin + y * cos)
                for x, y in ((-half_w, -half_h), (half_w, -half_h),
                             (half_w, half_h), (-half_w, half_h))]

    @property
    def wrapping_box(self):
        xs, ys = zip(*self.vertices)
        return BBox.ltrb(min(xs), min(ys), max(xs), max(ys))

    def __repr__(self):
        return super().__repr__()[:-1] + f', angle={self.angle})'
