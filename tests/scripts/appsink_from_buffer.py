"""A PyGObject app reading what a stage put on its buffers, with Frame.from_buffer,
in an appsink callback and in a pad probe.

    GST_PLUGIN_PATH=target/debug PYTHONPATH=python \
        python3 tests/scripts/appsink_from_buffer.py tests/scripts/bright_spot_stage.py 30
"""

import sys

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

import savant_gst  # noqa: E402

stage, frames = sys.argv[1], int(sys.argv[2])
Gst.init(None)
pipeline = Gst.parse_launch(
    f"videotestsrc pattern=ball num-buffers={frames} "
    "! video/x-raw,format=RGBA,width=64,height=48 "
    f"! savantpyfunc module={stage} class-name=BrightSpot "
    "! appsink name=sink emit-signals=true sync=false"
)
sink = pipeline.get_by_name("sink")
seen = {"sample": 0, "probe": 0}
problems = []


def check(frame, buffer, where):
    pixels = np.asarray(frame)
    if pixels.flags.writeable or frame.writable:
        problems.append(f"{where}: a from_buffer frame is writable")
    ok, info = buffer.map(Gst.MapFlags.READ)
    assert ok
    try:
        mapped = np.frombuffer(info.data, np.uint8).reshape(48, 64, 4)
        if not np.array_equal(mapped, pixels):
            problems.append(f"{where}: the frame's pixels differ from the buffer's")
        luma = mapped[:, :, :3].astype(np.int32).sum(axis=2)
        y, x = np.unravel_index(int(luma.argmax()), luma.shape)
    finally:
        buffer.unmap(info)
    [spot] = frame.objects
    if (spot.label, spot.x + spot.w // 2, spot.y + spot.h // 2) != ("spot", x, y):
        problems.append(f"{where}: {spot!r} is not at the brightest pixel ({x}, {y})")
    if frame.attributes.get("spot") != f"{x},{y}":
        problems.append(f"{where}: attributes {frame.attributes}")
    return frame.attributes["frames"]


def on_sample(appsink):
    sample = appsink.emit("pull-sample")
    frame = savant_gst.Frame.from_buffer(sample.get_buffer(), sample.get_caps())
    if seen["sample"] == 0:
        try:
            savant_gst.Frame.from_buffer(sample.get_buffer(), "video/x-raw,format=RGBA,"
                                         "width=640,height=480")
        except ValueError as e:
            print(f"refused: {e}")
        else:
            problems.append("from_buffer accepted caps larger than the buffer")
    number = check(frame, sample.get_buffer(), "appsink")
    if number != seen["sample"] + 1:
        problems.append(f"appsink: frame {number} after {seen['sample']}")
    seen["sample"] += 1
    return Gst.FlowReturn.OK


def on_probe(pad, info):
    buffer = info.get_buffer()
    # The caps as a string work too.
    frame = savant_gst.Frame.from_buffer(buffer, pad.get_current_caps().to_string())
    check(frame, buffer, "probe")
    seen["probe"] += 1
    return Gst.PadProbeReturn.OK


sink.connect("new-sample", on_sample)
sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_probe)

for wrong in (b"bytes", Gst.Caps.from_string("video/x-raw")):
    try:
        savant_gst.Frame.from_buffer(wrong, "video/x-raw,format=RGBA,width=64,height=48")
    except TypeError as e:
        print(f"refused: {e}")
    else:
        problems.append(f"from_buffer accepted {wrong!r}")

pipeline.set_state(Gst.State.PLAYING)
message = pipeline.get_bus().timed_pop_filtered(
    30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
)
pipeline.set_state(Gst.State.NULL)
if message is None or message.type != Gst.MessageType.EOS:
    print(f"no EOS: {message.parse_error() if message else 'timeout'}")
    sys.exit(1)
if sys.modules["savant_gst"] is not savant_gst:
    problems.append("the plugin replaced the app's savant_gst module")
print(f"read {seen['sample']} samples and {seen['probe']} probed buffers")
for problem in problems[:10]:
    print(problem)
sys.exit(1 if problems else 0)
