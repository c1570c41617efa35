"""A PyGObject app whose stage hook calls GStreamer (argv[1] names the call):
  null_self    this pipeline.set_state(NULL) from its own streaming thread
  ready_self   this pipeline.set_state(READY)
  chain_other  Pad.chain() into another pipeline's savantpyfunc
  null_other   another playing pipeline (with a savantpyfunc) to NULL
  play_other   another pipeline (with a savantpyfunc) to PLAYING
The hook runs where HOOK_WHERE says (frame: process_frame, eos: on_eos); A_ELEMENT,
A_PROPS and A_BEFORE vary the stage (savantdrawfunc, workers=2, a savantqueue
before it). Prints "[hook] ... returned ..." and "CLEAN EXIT"; a signal fails."""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ACTION = sys.argv[1]
Gst.init(None)

CAPS = "video/x-raw,format=RGBA,width=64,height=48,framerate=30/1"
STAGE = f"{HERE}/hook_calls_gstreamer_stage.py"
element = os.environ.get("A_ELEMENT", "savantpyfunc")
props = os.environ.get("A_PROPS", "")
if element == "savantdrawfunc":
    props += " function=draw"
pipeline = Gst.parse_launch(
    f"videotestsrc num-buffers=20 ! {CAPS} ! {os.environ.get('A_BEFORE', '')} "
    f"{element} name=sa module={STAGE} class-name={os.environ.get('A_CLASS', 'Stage')} "
    f"{props} ! fakesink")
other = Gst.parse_launch(
    f"appsrc caps={CAPS} format=time ! savantpyfunc name=sb module={STAGE} "
    "class-name=Quiet ! fakesink")
other_sink = other.get_by_name("sb").get_static_pad("sink")
if ACTION in ("chain_other", "null_other"):
    other.set_state(Gst.State.PLAYING)
    other.get_state(5 * Gst.SECOND)


def do_action():
    if ACTION == "null_self":
        return pipeline.set_state(Gst.State.NULL)
    if ACTION == "ready_self":
        return pipeline.set_state(Gst.State.READY)
    if ACTION == "chain_other":
        other_sink.send_event(Gst.Event.new_stream_start("hook"))
        other_sink.send_event(Gst.Event.new_caps(Gst.Caps.from_string(CAPS)))
        segment = Gst.Segment()
        segment.init(Gst.Format.TIME)
        other_sink.send_event(Gst.Event.new_segment(segment))
        buffer = Gst.Buffer.new_wrapped(bytes(64 * 48 * 4))
        buffer.pts = 0
        buffer.duration = Gst.SECOND // 30
        return other_sink.chain(buffer)
    if ACTION == "null_other":
        return other.set_state(Gst.State.NULL)
    if ACTION == "play_other":
        return other.set_state(Gst.State.PLAYING)
    raise ValueError(ACTION)


loop = GLib.MainLoop()


def on_message(bus, message):
    if message.type == Gst.MessageType.ERROR:
        print("ERROR:", message.parse_error()[0].message, flush=True)
        loop.quit()
    elif message.type == Gst.MessageType.EOS:
        print("EOS", flush=True)
        loop.quit()


bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
pipeline.set_state(Gst.State.PLAYING)
# A pipeline its hook stopped posts nothing more: end after a few seconds then.
GLib.timeout_add_seconds(3, loop.quit)
loop.run()
pipeline.set_state(Gst.State.NULL)
other.set_state(Gst.State.NULL)
print("CLEAN EXIT", flush=True)
