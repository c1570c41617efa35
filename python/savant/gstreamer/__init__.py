"""``from savant.gstreamer import Gst, GLib``: PyGObject's GStreamer bindings, as in Savant."""

import gi

gi.require_version('Gst', '1.0')
from gi.repository import GLib, GObject, Gst  # noqa: E402

if not Gst.is_initialized():
    Gst.init(None)

__all__ = ['Gst', 'GLib', 'GObject']
