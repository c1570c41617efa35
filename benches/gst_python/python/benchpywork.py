"""Savant's way: a gst-python BaseTransform that maps each frame as a numpy array
and runs the benchmark's work on it (what Savant's pyfunc element does)."""

import os
import sys

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GObject, Gst, GstBase, GstVideo  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "stages"))
import work  # noqa: E402


class BenchPyWork(GstBase.BaseTransform):
    __gstmetadata__ = ("bench work", "Filter", "runs the queue benchmark's work", "gst-savant")
    __gsttemplates__ = (
        Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, Gst.Caps.from_string("video/x-raw,format=RGBA")),
        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, Gst.Caps.from_string("video/x-raw,format=RGBA")),
    )
    kind = GObject.Property(type=str, default="blur")

    def do_set_caps(self, incaps, outcaps):
        self.info = GstVideo.VideoInfo.new_from_caps(incaps)
        return True

    def do_transform_ip(self, buf):
        ok, info = buf.map(Gst.MapFlags.READ)
        if not ok:
            return Gst.FlowReturn.ERROR
        try:
            stride = self.info.stride[0]
            img = np.ndarray(
                (self.info.height, self.info.width, 4), dtype=np.uint8,
                buffer=info.data, strides=(stride, 4, 1),
            )
            work.WORK[self.kind](img)
        finally:
            buf.unmap(info)
        return Gst.FlowReturn.OK


GObject.type_register(BenchPyWork)
__gstelementfactory__ = ("benchpywork", Gst.Rank.NONE, BenchPyWork)
