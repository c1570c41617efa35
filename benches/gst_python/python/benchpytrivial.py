"""Savant's way, for comparison: a gst-python BaseTransform calling a trivial
function for every buffer (what Savant's pyfunc element does per frame)."""

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
from gi.repository import GObject, Gst, GstBase  # noqa: E402


def process_frame(frame):
    return None


class BenchPyTrivial(GstBase.BaseTransform):
    __gstmetadata__ = ("bench trivial", "Filter", "calls a trivial function", "gst-savant")
    __gsttemplates__ = (
        Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, Gst.Caps.new_any()),
        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, Gst.Caps.new_any()),
    )

    def do_transform_ip(self, buf):
        process_frame(buf)
        return Gst.FlowReturn.OK


GObject.type_register(BenchPyTrivial)
__gstelementfactory__ = ("benchpytrivial", Gst.Rank.NONE, BenchPyTrivial)
