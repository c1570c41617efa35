"""Runs a pipeline (argv[1]) to EOS with the savantmetrics tracer of GST_TRACERS,
then prints what the named stage modules saw (argv[2:], each a module with a SEEN
dict of frames per source, and DROPPED and ERRORS ones if it has them: "SEEN module
source frames" lines, then "READY") and
keeps the pipeline alive, its metrics served, until stdin closes."""

import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

Gst.init(None)
pipeline = Gst.parse_launch(sys.argv[1])
pipeline.set_state(Gst.State.PLAYING)
message = pipeline.get_bus().timed_pop_filtered(
    120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
)
if message is None or message.type != Gst.MessageType.EOS:
    detail = message.parse_error() if message is not None else "timeout"
    print("FAILED", detail, flush=True)
    sys.exit(1)
for name in sys.argv[2:]:
    for what in ("SEEN", "DROPPED", "ERRORS"):
        for source, frames in sorted(getattr(sys.modules[name], what, {}).items()):
            print(f"{what} {name} {source} {frames}", flush=True)
print("READY", flush=True)
sys.stdin.read()
pipeline.set_state(Gst.State.NULL)
