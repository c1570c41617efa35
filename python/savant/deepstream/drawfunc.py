"""Savant's ``NvDsDrawFunc``, loadable by savantdrawfunc as ``class_name``.

savantdrawfunc draws each object per its draw spec (``rendered_objects``) in
Rust and calls the hook's ``draw(frame, artist)``; here ``draw`` calls Savant's
``draw_on_frame(frame_meta, artist)`` with an ``NvDsFrameMeta`` and Savant's
``Artist``. In Savant the objects' specs are drawn by the base ``draw_on_frame``,
so a subclass whose ``draw_on_frame`` never calls it (``super().draw_on_frame``)
draws only what it draws itself. The same holds here: such a class (seen from its
code when the class is made) gets an ``override_draw_spec`` that skips every
object's spec, at the cost of one Python call per object.

A subclass's ``override_draw_spec(self, object_meta, draw_spec)`` is wrapped when
the class is made: the element's call ``override_draw_spec(obj, spec_dict)``
reaches it with an ``ObjectMeta`` and an ``ObjectDraw`` (Savant's defaults filled
in), and what it returns goes back as a spec dict (see ``savant.utils.draw_spec``).
Classes that do not define it cost nothing per object. Savant's
``condition: {tag}``, given as a kwarg here, limits the hook's drawing to frames
with that tag (the element still draws the specs on every frame).
"""

import functools

from ..meta.object import ObjectMeta
from ..utils.artist import Artist
from ..utils.draw_spec import (  # noqa: F401  (Savant's module offers these names)
    BBoxDraw,
    BoundingBoxDraw,
    ColorDraw,
    DotDraw,
    LabelDraw,
    LabelPosition,
    LabelPositionKind,
    ObjectDraw,
    PaddingDraw,
    changes,
    get_obj_draw_spec,
    to_dict,
)
from .pyfunc import NvDsPyFuncPlugin


def _adapt_override(method):
    @functools.wraps(method)
    def override_draw_spec(self, obj, spec):
        if not isinstance(obj, ObjectMeta):  # the element's call
            draw = get_obj_draw_spec(spec)
            before = to_dict(draw)
            result = method(self, ObjectMeta._of(obj), draw)
            if result is None or result is False:
                return result
            return changes(spec, before, to_dict(result))
        return method(self, obj, spec)  # a subclass's super() call

    override_draw_spec._savant_adapter = True
    return override_draw_spec


def _no_spec(self, obj, spec):
    return False  # the object's spec is not drawn


_no_spec._savant_adapter = True


class NvDsDrawFunc(NvDsPyFuncPlugin):
    """Base class of Savant draw functions; see the module's docstring."""

    _savant_draws_specs = True

    def __init__(self, **kwargs):
        self.rendered_objects = None
        self.condition = None
        super().__init__(**kwargs)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if 'draw_on_frame' in own:
            code = getattr(own['draw_on_frame'], '__code__', None)
            cls._savant_draws_specs = code is None or 'draw_on_frame' in code.co_names
        method = own.get('override_draw_spec')
        if not cls._savant_draws_specs:
            cls.override_draw_spec = _no_spec
        elif method is not None and not getattr(method, '_savant_adapter', False):
            cls.override_draw_spec = _adapt_override(method)
        elif getattr(cls, 'override_draw_spec', None) is _no_spec:
            cls.override_draw_spec = None  # not callable: the element calls nothing

    def draw(self, frame, artist):
        frame_meta = self._savant_frame_meta(frame)
        tag = (self.condition or {}).get('tag')
        if tag is not None and frame_meta.get_tag(tag) is None:
            return
        self.draw_on_frame(frame_meta, Artist(artist, (frame.width, frame.height)))

    def draw_on_frame(self, frame_meta, artist):
        """Objects are drawn per their specs by savantdrawfunc; nothing to add."""
