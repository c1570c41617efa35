"""Savant's ``ObjectMeta`` as a view of a ``savant_gst.Object``.

Every ``ObjectMeta`` wraps a ``savant_gst.Object``: one a stage builds
(``ObjectMeta('detector', 'car', BBox(...))``) holds a free one until
``frame_meta.add_obj_meta`` puts it on the frame; one read from
``frame_meta.objects`` is the frame's own, so what a Savant stage changes, a
``savant_gst`` stage after it sees:

- ``element_name`` is the object's ``model`` (the unit that made it);
- ``track_id`` is Savant's ``UNTRACKED_OBJECT_ID`` where the object's is None;
- ``confidence`` is 1.0 (Savant's default) where the object has none;
- ``parent`` follows ``parent_id``; objects without one belong to the frame (the
  primary object), as Savant's detections do;
- ``draw_label`` is kept in the attribute ``savant.draw_label``;
- attributes follow ``savant.meta.attribute`` (``"element_name.name"`` keys);
- ``bbox`` is a live ``BBox`` (one per object and frame): setting its fields moves
  the object. Boxes are whole pixels here; a rotated ``RBBox`` is stored as the
  box that wraps it.
"""

import savant_gst

from . import attribute
from .bbox import BBox, RBBox
from .constants import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MODEL_NAME,
    PRIMARY_OBJECT_LABEL,
    UNTRACKED_OBJECT_ID,
)
from .errors import MetaValueError

DRAW_LABEL = 'savant.draw_label'


def _box(bbox):
    if isinstance(bbox, RBBox) and bbox.angle:
        bbox = bbox.wrapping_box
    return bbox.as_ltwh() if hasattr(bbox, 'as_ltwh') else tuple(bbox)


def _track(track_id):
    return None if track_id == UNTRACKED_OBJECT_ID else track_id


class ObjectMeta:
    """An object on a frame (or about to be added to one)."""

    def __init__(self, element_name, label, bbox, confidence=DEFAULT_CONFIDENCE,
                 track_id=UNTRACKED_OBJECT_ID, parent=None, attributes=None,
                 draw_label=None):
        self._obj = savant_gst.Object(label, _box(bbox), confidence=confidence,
                                      track_id=_track(track_id), model=element_name)
        self._frame_meta, self._parent = None, parent
        if draw_label is not None:
            self.draw_label = draw_label
        for attr in attributes or ():
            self.add_attr_meta(attr.element_name, attr.name, attr.value, attr.confidence)

    @classmethod
    def _of(cls, obj, frame_meta=None):
        self = cls.__new__(cls)
        self._obj, self._frame_meta, self._parent = obj, frame_meta, None
        return self

    def _attributes(self):
        return self._obj.attributes

    # Savant's attribute calls, on (element_name, name) keys.
    def get_attr_meta_list(self, element_name, attr_name):
        return attribute.get_list(self._attributes(), element_name, attr_name)

    def get_attr_meta(self, element_name, attr_name):
        values = self.get_attr_meta_list(element_name, attr_name)
        return values[0] if values else None

    def add_attr_meta(self, element_name, name, value, confidence=1.0, replace=False):
        attribute.add(self._attributes(), element_name, name, value, confidence, replace)

    def replace_attr_meta_list(self, element_name, attr_name, value):
        store = self._attributes()
        attribute.remove(store, element_name, attr_name)
        for index, attr in enumerate(value):
            attribute.put(store, element_name, attr_name, attr.value, attr.confidence, index)

    def remove_attr_meta_list(self, element_name, attr_name):
        attribute.remove(self._attributes(), element_name, attr_name)

    @property
    def label(self):
        return self._obj.label

    @label.setter
    def label(self, value):
        self._obj.label = value

    @property
    def draw_label(self):
        return self._attributes().get(DRAW_LABEL) or self.label

    @draw_label.setter
    def draw_label(self, value):
        self._attributes()[DRAW_LABEL] = value

    @property
    def element_name(self):
        return self._obj.model or ''

    @element_name.setter
    def element_name(self, value):
        self._obj.model = value

    @property
    def confidence(self):
        confidence = self._obj.confidence
        return DEFAULT_CONFIDENCE if confidence is None else confidence

    @confidence.setter
    def confidence(self, value):
        self._obj.confidence = value

    @property
    def track_id(self):
        track_id = self._obj.track_id
        return UNTRACKED_OBJECT_ID if track_id is None else track_id

    @track_id.setter
    def track_id(self, value):
        self._obj.track_id = _track(value)

    @property
    def bbox(self):
        bbox = self.__dict__.get('_live_bbox')
        if bbox is None:
            bbox = self._live_bbox = BBox.ltwh(*self._obj.box)
            bbox._changed = self._moved
        return bbox

    def _moved(self, bbox):
        self._obj.box = _box(bbox)

    def sync_bbox(self):
        """Savant stores boxes at the end of a frame; here every change is stored at once."""

    @property
    def parent(self):
        if self._frame_meta is None:
            return self._parent
        return self._frame_meta._parent_of(self._obj.parent_id)

    @parent.setter
    def parent(self, value):
        if value is not None and value._obj is self._obj:
            raise MetaValueError('An object cannot have itself as a parent.')
        self._parent = value
        self._obj.parent_id = _id_of(value)

    @property
    def uid(self):
        return self._obj.id or None  # 0 until the object is on a frame

    @property
    def is_primary(self):
        return self.label == PRIMARY_OBJECT_LABEL and self.element_name == DEFAULT_MODEL_NAME

    def __eq__(self, other):
        return isinstance(other, ObjectMeta) and self._obj is other._obj

    def __hash__(self):
        return hash(id(self._obj))

    def __repr__(self):
        return (f'ObjectMeta({self.element_name!r}, {self.label!r}, {self.bbox!r}, '
                f'confidence={self.confidence}, track_id={self.track_id})')


def _id_of(meta):
    """The parent id stored for ``meta``: 0 for none or the frame (primary) object."""
    return 0 if meta is None or meta.is_primary else meta._obj.id
