"""Savant's way, for comparison: a gst-python BaseTransform that maps each buffer
and wraps it in a numpy array, as a pyfunc reading the frame would."""

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
from gi.repository import GObject, Gst, GstBase  # noqa: E402


class BenchPyArray(GstBase.BaseTransform):
    __gstmetadata__ = ("bench array", "Filter", "maps the frame as a numpy array", "gst-savant")
    __gsttemplates__ = (
        Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, Gst.Caps.new_any()),
        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, Gst.Caps.new_any()),
    )

    def do_transform_ip(self, buf):
        ok, info = buf.map(Gst.MapFlags.READ)
        if ok:
            np.frombuffer(info.data, dtype=np.uint8)
            buf.unmap(info)
        return Gst.FlowReturn.OK


GObject.type_register(BenchPyArray)
__gstelementfactory__ = ("benchpyarray", Gst.Rank.NONE, BenchPyArray)
