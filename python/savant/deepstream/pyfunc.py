"""Savant's ``NvDsPyFuncPlugin``, loadable by savantpyfunc as ``class_name``.

savantpyfunc calls ``process_frame(frame)`` with a ``savant_gst.Frame``; a
subclass written for Savant defines ``process_frame(self, buffer, frame_meta)``.
When the subclass is created, that method is wrapped so that the element's call
reaches it as ``process_frame(frame, NvDsFrameMeta(frame))``: ``buffer`` is the
frame itself (``np.asarray(buffer)`` is the image; ``pts``, ``duration`` as on
``Gst.Buffer``). Its return value is ignored, as in Savant (frames are never
dropped by returning False here). ``on_source_add``/``on_source_eos``/
``on_source_delete``, ``on_start`` and ``on_stop`` are the element's own hooks
already; kwargs become attributes; ``self.logger`` logs under the stage.
"""

import functools

from .. import unsupported
from ..utils.logging import LoggerMixin
from .meta.frame import NvDsFrameMeta


def _adapt(method):
    """``process_frame(self, buffer, frame_meta)`` as the element calls it."""

    @functools.wraps(method)
    def process_frame(self, frame, frame_meta=None):
        if frame_meta is None:
            frame_meta = self._savant_frame_meta(frame)
        method(self, frame, frame_meta)

    process_frame._savant_adapter = True
    return process_frame


class NvDsPyFuncPlugin(LoggerMixin):
    """Base class of Savant pyfuncs; see the module's docstring."""

    def __init__(self, **kwargs):
        for name, value in kwargs.items():
            setattr(self, name, value)
        self.gst_element = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get('process_frame')
        if method is not None and not getattr(method, '_savant_adapter', False):
            cls.process_frame = _adapt(method)

    def _savant_frame_meta(self, frame):
        counts = self.__dict__.setdefault('_savant_frame_counts', {})
        source = frame.source_id
        number = counts[source] = counts.get(source, -1) + 1
        return NvDsFrameMeta(frame, number)

    def on_start(self):
        return True

    def on_stop(self):
        return True

    def on_source_add(self, source_id):
        pass

    def on_source_eos(self, source_id):
        pass

    def on_source_delete(self, source_id):
        pass

    def process_frame(self, frame, frame_meta=None):
        """Savant's default does nothing."""

    process_frame._savant_adapter = True

    def process_buffer(self, buffer):
        raise unsupported('process_buffer (a DeepStream batch)', 'use process_frame')

    def get_cuda_stream(self, frame_meta):
        raise unsupported('get_cuda_stream', 'CUDA frames come as savant_gst.Frame '
                          '(cupy.asarray(frame)) with memory=cuda')

    def auxiliary_stream(self, *args, **kwargs):
        raise unsupported('auxiliary_stream', 'branch the pipeline with a tee instead')

    @property
    def metrics(self):
        raise unsupported('metrics', "read the elements' stats property instead")
