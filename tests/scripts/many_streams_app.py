"""A PyGObject app: N sources with different frame counts through savantmux, one
stage, savantdemux to one appsink per source. Prints per-source counts and checks
the order of the stage's hooks; exits 1 on any difference.

    python3 many_streams_app.py SOURCES
"""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import many_streams_record as record  # noqa: E402

Gst.init(None)
n = int(sys.argv[1])
counts = {f"cam-{i}": 3 + 2 * i for i in range(n)}
stage = os.path.join(here, "many_streams_stage.py")
parts = [
    "savantmux name=m "
    + " ".join(f"sink_{i}::source-id=cam-{i}" for i in range(n))
    + f" ! savantpyfunc module={stage} class-name=Counter ! savantdemux name=d"
]
# async=false: the sinks of a demuxer's pads must not wait for each other to preroll,
# since a source whose first frame comes late would keep the others' sinks waiting
# while its queue fills (as with any GStreamer demuxer).
for i in range(n):
    parts.append(f"d.src_cam-{i} ! queue ! appsink name=sink{i} emit-signals=true sync=false async=false")
    parts.append(
        f"videotestsrc num-buffers={counts[f'cam-{i}']} "
        f"! video/x-raw,format=RGBA,width=32,height=24 ! m.sink_{i}"
    )
pipeline = Gst.parse_launch(" ".join(parts))
received = {}


def on_sample(sink, expected):
    sample = sink.emit("pull-sample")
    meta = sample.get_buffer().get_custom_meta("SavantSource")
    source = meta.get_structure().get_value("source-id")
    if source != expected:
        print(f"FAIL: {expected}'s pad carried a frame of {source}")
        os._exit(1)
    received[source] = received.get(source, 0) + 1
    return Gst.FlowReturn.OK


for i in range(n):
    pipeline.get_by_name(f"sink{i}").connect("new-sample", on_sample, f"cam-{i}")

loop = GLib.MainLoop()
failure = []


def on_message(bus, message):
    if message.type == Gst.MessageType.ERROR:
        failure.append(message.parse_error()[0].message)
        loop.quit()
    elif message.type == Gst.MessageType.EOS:
        loop.quit()


bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
pipeline.set_state(Gst.State.PLAYING)
loop.run()
pipeline.set_state(Gst.State.NULL)
if failure:
    print("FAIL:", failure[0])
    sys.exit(1)

ok = received == counts
seen = {}
for kind, source in record.EVENTS:
    state = seen.setdefault(source, [])
    if kind == "add" and state:
        ok = False
    if kind == "frame" and (not state or state[-1] == "eos" or state[0] != "add"):
        ok = False
    if kind == "eos" and (not state or "eos" in state):
        ok = False
    state.append(kind)
ok = ok and record.EVENTS[-1] == ("end", None)
ok = ok and all(seen[s].count("eos") == 1 and seen[s].count("frame") == c for s, c in counts.items())
print("received:", " ".join(f"{s}={received.get(s, 0)}" for s in sorted(counts)))
print("hooks in order" if ok else f"FAIL: events {record.EVENTS}")
sys.exit(0 if ok else 1)
