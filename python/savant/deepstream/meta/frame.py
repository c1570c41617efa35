"""Savant's ``NvDsFrameMeta`` as a view of a ``savant_gst.Frame``.

- ``objects`` lists the primary object first, then one ``ObjectMeta`` per
  ``frame.objects`` entry. The primary object (Savant's ``auto``/``frame`` object,
  which Savant's models run inside) is not an object here but the frame itself:
  its attributes are the frame's ``attributes`` (same ``"element_name.name"``
  keys), its box is ``roi``. A changed ``roi`` is stored in the frame attribute
  ``savant.roi`` as ``"left,top,width,height"``; removing the primary object
  (Savant's way to skip a frame's inference) stores ``savant.roi = ""``, which
  model stages here can test.
- tags (``get_tag``/``set_tag``) are frame attributes under their own name.
- ``source_id`` is the frame's (a ``savantmux`` pad's source id), ``None``
  without a mux; ``frame_num`` counts the frames the stage's instance saw, per
  source, from 0 (with ``workers`` and per-worker instances, each counts its own).
"""

from ...meta.bbox import BBox  # Savant's samples import BBox from here
from ...meta.constants import DEFAULT_MODEL_NAME, PRIMARY_OBJECT_LABEL, UNTRACKED_OBJECT_ID
from ...meta.errors import MetaValueError
from ...meta.object import ObjectMeta, _id_of

ROI = 'savant.roi'


class NvDsFrameMeta:
    """One frame's metadata: objects, tags, the primary object's box (roi)."""

    def __init__(self, frame, frame_num=0):
        self._frame = frame
        self._frame_num = frame_num
        self._metas = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc_details):
        return False

    @property
    def frame(self):
        """The ``savant_gst.Frame`` (pixels: ``np.asarray(frame_meta.frame)``)."""
        return self._frame

    @property
    def frame_meta(self):
        # Savant passes its DeepStream frame meta to helpers such as
        # get_nvds_buf_surface(buffer, frame_meta.frame_meta); here that is this view.
        return self

    source_id = property(lambda self: self._frame.source_id)
    pts = property(lambda self: self._frame.pts)
    duration = property(lambda self: self._frame.duration)
    frame_num = property(lambda self: self._frame_num)
    frame_width = property(lambda self: self._frame.width)
    frame_height = property(lambda self: self._frame.height)
    batch_id = property(lambda self: 0)

    @property
    def telemetry_span(self):
        return _NO_SPAN

    def _metas_of(self, objects):
        metas, found = self._metas, []
        for obj in objects:
            meta = metas.get(id(obj))
            if meta is None or meta._obj is not obj:
                meta = metas[id(obj)] = ObjectMeta._of(obj, self)
            found.append(meta)
        return found

    def _primary(self):
        if self._frame.attributes.get(ROI) == '':
            return None
        return _PrimaryObjectMeta(self)

    @property
    def objects(self):
        primary = self._primary()
        metas = self._metas_of(self._frame.objects)
        return metas if primary is None else [primary] + metas

    @property
    def objects_number(self):
        return len(self.objects)

    def _parent_of(self, parent_id):
        if parent_id == 0:
            return self._primary()
        for obj in self._frame.objects:
            if obj.id == parent_id:
                return self._metas_of([obj])[0]
        return None

    def add_obj_meta(self, object_meta):
        if not isinstance(object_meta, ObjectMeta):
            raise MetaValueError(f'add_obj_meta takes an ObjectMeta, got {type(object_meta)}')
        if object_meta.uid is not None or object_meta.is_primary:
            return  # already on a frame
        free = object_meta._obj
        obj = self._frame.add_object(
            free.label, free.box, free.confidence, free.track_id, free.attributes or None,
            _id_of(object_meta._parent), free.model)
        object_meta._obj, object_meta._frame_meta = obj, self
        object_meta.__dict__.pop('_live_bbox', None)
        self._metas[id(obj)] = object_meta

    def remove_obj_meta(self, object_meta):
        if not isinstance(object_meta, ObjectMeta):
            raise MetaValueError(f'remove_obj_meta takes an ObjectMeta, got {type(object_meta)}')
        if isinstance(object_meta, _PrimaryObjectMeta):
            self._frame.attributes[ROI] = ''
        elif object_meta._frame_meta is self:
            self._frame.remove_object(object_meta._obj)
            self._metas.pop(id(object_meta._obj), None)
            object_meta._frame_meta = None

    @property
    def roi(self):
        """The primary object's box (the whole frame unless a stage set it)."""
        text = self._frame.attributes.get(ROI)
        if text:
            bbox = BBox.ltwh(*(float(v) for v in text.split(',')))
        else:
            bbox = BBox.ltwh(0, 0, self._frame.width, self._frame.height)
        bbox._changed = self._set_roi
        return bbox

    @roi.setter
    def roi(self, value):
        self._set_roi(value)

    def _set_roi(self, bbox):
        self._frame.attributes[ROI] = ','.join(str(round(v)) for v in bbox.as_ltwh())

    def get_tag(self, name):
        return self._frame.attributes.get(name)

    def set_tag(self, name, value):
        self._frame.attributes[name] = value

    def __repr__(self):
        return f'NvDsFrameMeta(source_id={self.source_id!r}, pts={self.pts}, frame_num={self._frame_num})'


class _PrimaryObjectMeta(ObjectMeta):
    """Savant's primary (frame) object: the frame's attributes and roi."""

    def __init__(self, frame_meta):
        self._obj, self._frame_meta = None, frame_meta

    def _attributes(self):
        return self._frame_meta._frame.attributes

    label = property(lambda self: PRIMARY_OBJECT_LABEL)
    element_name = property(lambda self: DEFAULT_MODEL_NAME)
    confidence = property(lambda self: 1.0)
    track_id = property(lambda self: UNTRACKED_OBJECT_ID)
    parent = property(lambda self: None)
    uid = property(lambda self: 0)
    is_primary = True
    draw_label = property(lambda self: PRIMARY_OBJECT_LABEL)

    @property
    def bbox(self):
        return self._frame_meta.roi

    def __eq__(self, other):
        return isinstance(other, _PrimaryObjectMeta) and other._frame_meta is self._frame_meta

    def __hash__(self):
        return hash(id(self._frame_meta))


class _NoSpan:
    """Savant's telemetry span: accepted, recording nothing (no OpenTelemetry here)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_details):
        return False

    def nested_span(self, name):
        return self

    def __getattr__(self, name):
        if name.startswith(('set_', 'add_')):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


_NO_SPAN = _NoSpan()
