"""Savant's draw spec objects (``ObjectDraw``, ``BoundingBoxDraw``, ``LabelDraw``,
``DotDraw``, ``ColorDraw``, ``PaddingDraw``, ``LabelPosition``, with the arguments
and defaults of ``savant_rs.draw_spec``), and their translation to and from
savantdrawfunc's spec dicts (a spec's YAML).

savantdrawfunc hands ``override_draw_spec`` each object's spec as the dict of its
YAML (None for the built-in default); ``NvDsDrawFunc`` turns it into an
``ObjectDraw`` with Savant's defaults filled in, and turns what Savant's method
returns back into a dict that changes only what the method changed, so values
the YAML left out keep the drawing element's defaults. Where ``savant_rs`` is
installed its classes are used instead of these, so a stage that builds
``savant_rs.draw_spec`` objects (as Savant's template does) can mix them with the
ones it is given.
"""

import copy
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import List, Optional


@dataclass
class ColorDraw:
    red: int = 0
    green: int = 255
    blue: int = 0
    alpha: int = 255

    rgba = property(lambda self: (self.red, self.green, self.blue, self.alpha))
    bgra = property(lambda self: (self.blue, self.green, self.red, self.alpha))
    copy = replace


@dataclass
class PaddingDraw:
    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0

    padding = property(lambda self: (self.left, self.top, self.right, self.bottom))
    copy = replace


class LabelPositionKind(Enum):
    TopLeftInside = 'TopLeftInside'
    TopLeftOutside = 'TopLeftOutside'
    Center = 'Center'


@dataclass
class LabelPosition:
    position: LabelPositionKind = LabelPositionKind.TopLeftOutside
    margin_x: int = 0
    margin_y: int = -10
    copy = replace


@dataclass
class BoundingBoxDraw:
    border_color: ColorDraw = field(default_factory=lambda: ColorDraw(0, 0, 0, 0))
    background_color: ColorDraw = field(default_factory=lambda: ColorDraw(0, 0, 0, 0))
    thickness: int = 2
    padding: PaddingDraw = field(default_factory=PaddingDraw)
    copy = replace


BBoxDraw = BoundingBoxDraw


@dataclass
class LabelDraw:
    font_color: ColorDraw = field(default_factory=ColorDraw)
    background_color: ColorDraw = field(default_factory=lambda: ColorDraw(0, 0, 0, 0))
    border_color: ColorDraw = field(default_factory=lambda: ColorDraw(0, 0, 0, 0))
    font_scale: float = 1.0
    thickness: int = 1
    position: LabelPosition = field(default_factory=LabelPosition)
    padding: PaddingDraw = field(default_factory=PaddingDraw)
    format: List[str] = field(default_factory=lambda: ['{label}'])
    copy = replace


@dataclass
class DotDraw:
    color: ColorDraw = field(default_factory=ColorDraw)
    radius: int = 2
    copy = replace


@dataclass
class ObjectDraw:
    bounding_box: Optional[BoundingBoxDraw] = None
    central_dot: Optional[DotDraw] = None
    label: Optional[LabelDraw] = None
    blur: bool = False
    copy = replace


try:
    from savant_rs.draw_spec import (  # noqa: F811
        BoundingBoxDraw,
        ColorDraw,
        DotDraw,
        LabelDraw,
        LabelPosition,
        LabelPositionKind,
        ObjectDraw,
        PaddingDraw,
    )

    BBoxDraw = BoundingBoxDraw
except ImportError:
    pass


def _color(text):
    return ColorDraw(*(int(text[i:i + 2], 16) for i in (0, 2, 4, 6)))


def get_default_draw_spec(track_id=True):
    """Savant's drawing of objects without a spec: a green box and the label."""
    label_format = ['{label} #{track_id}'] if track_id else ['{label}']
    return ObjectDraw(
        bounding_box=BoundingBoxDraw(ColorDraw(0, 255, 0, 255), ColorDraw(0, 0, 0, 0), 2,
                                     PaddingDraw(0, 0, 0, 0)),
        label=LabelDraw(ColorDraw(255, 255, 255, 255), ColorDraw(0, 0, 0, 255),
                        ColorDraw(0, 0, 0, 0), 0.5, 1,
                        LabelPosition(LabelPositionKind.TopLeftOutside, 0, 0),
                        PaddingDraw(0, 0, 0, 0), label_format))


def _padding(spec):
    spec = spec or {}
    return PaddingDraw(*(spec.get(side, 0) for side in ('left', 'top', 'right', 'bottom')))


def get_obj_draw_spec(config):
    """A spec dict (one object's YAML, None for the default) as an ``ObjectDraw``."""
    if config is None:
        return get_default_draw_spec(track_id=False)
    parts = {}
    if config.get('bbox') is not None:
        spec = config['bbox']
        parts['bounding_box'] = BoundingBoxDraw(
            _color(spec.get('border_color', '00FF00FF')),
            _color(spec.get('background_color', '00000000')),
            spec.get('thickness', 2), _padding(spec.get('padding')))
    if config.get('central_dot') is not None:
        spec = config['central_dot']
        parts['central_dot'] = DotDraw(_color(spec.get('color', '00FF00FF')),
                                   spec.get('radius', 5))
    if config.get('label') is not None:
        spec = config['label']
        position = spec.get('position')
        if isinstance(position, dict):
            kind = getattr(LabelPositionKind, position.get('position', 'TopLeftOutside'))
            position = LabelPosition(kind, position.get('margin_x', 0), position.get('margin_y', 0))
        else:  # the flat form: an outside label's margin_y lifts it
            kind = getattr(LabelPositionKind, position or 'TopLeftOutside')
            margin_y = spec.get('margin_y', 0)
            outside = kind == LabelPositionKind.TopLeftOutside
            position = LabelPosition(kind, spec.get('margin_x', 0), -margin_y if outside else margin_y)
        label_format = spec.get('format', ['{label}'])
        parts['label'] = LabelDraw(
            _color(spec.get('font_color', 'FFFFFFFF')),
            _color(spec.get('background_color', '000000FF')),
            _color(spec.get('border_color', '00000000')),
            spec.get('font_scale', 0.5), spec.get('thickness', 1), position,
            _padding(spec.get('padding')),
            [label_format] if isinstance(label_format, str) else list(label_format))
    return ObjectDraw(blur=bool(config.get('blur', False)), **parts)


def _hex(color):
    return '{:02X}{:02X}{:02X}{:02X}'.format(*color.rgba)


def _sides(padding):
    return dict(zip(('left', 'top', 'right', 'bottom'), padding.padding))


def _kind(position):
    kind = position.position
    return getattr(kind, 'name', None) or str(kind).rpartition('.')[2]


def to_dict(draw):
    """An ``ObjectDraw`` (ours or savant_rs's) as a full spec dict."""
    bbox, label, dot = draw.bounding_box, draw.label, draw.central_dot
    return {
        'bbox': None if bbox is None else {
            'border_color': _hex(bbox.border_color),
            'background_color': _hex(bbox.background_color),
            'thickness': bbox.thickness, 'padding': _sides(bbox.padding)},
        'label': None if label is None else {
            'font_color': _hex(label.font_color),
            'background_color': _hex(label.background_color),
            'border_color': _hex(label.border_color),
            'font_scale': label.font_scale, 'thickness': label.thickness,
            'format': list(label.format),
            'position': {'position': _kind(label.position),
                         'margin_x': label.position.margin_x,
                         'margin_y': label.position.margin_y},
            'padding': _sides(label.padding)},
        'central_dot': None if dot is None else {
            'color': _hex(dot.color), 'radius': dot.radius},
        'blur': bool(draw.blur),
    }


def changes(given, before, after):
    """The spec dict to draw with: ``given`` (a spec's YAML, or None) with only
    what differs between ``before`` and ``after`` (full dicts) changed; None when
    nothing did (the element then draws ``given`` as configured)."""
    if before == after:
        return None
    out = copy.deepcopy(given) if given is not None else copy.deepcopy(before)
    for part in ('bbox', 'label', 'central_dot'):
        old, new = before[part], after[part]
        if new is None:
            out.pop(part, None)
        elif old is None or not isinstance(out.get(part), dict):
            out[part] = new
        else:
            for key, value in new.items():
                if value != old[key]:
                    out[part][key] = value
                    if key == 'position':
                        out[part].pop('margin_x', None)
                        out[part].pop('margin_y', None)
    out['blur'] = after['blur']
    return out
