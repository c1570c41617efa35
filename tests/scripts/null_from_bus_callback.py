"""A PyGObject app that stops the pipeline from a bus callback (holding the GIL)
while streaming threads are busy in Python, with its own numpy thread running."""

import sys
import threading

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

stage = sys.argv[1]
Gst.init(None)
pipeline = Gst.parse_launch(
    "videotestsrc ! video/x-raw,format=RGBA,width=160,height=120 "
    f"! savantqueue ! savantpyfunc module={stage} stats-interval=50 "
    f"! savantqueue ! savantpyfunc module={stage} ! fakesink"
)
stop = threading.Event()


def numpy_worker():
    a = np.random.rand(200, 200)
    while not stop.is_set():
        a = a @ a.T / 200.0


worker = threading.Thread(target=numpy_worker)
worker.start()
loop = GLib.MainLoop()
messages = 0


def on_message(_bus, message):
    global messages
    if message.type == Gst.MessageType.ELEMENT:
        messages += 1
        if messages == 5:
            # Inside a bus callback, with the GIL held by this thread.
            pipeline.set_state(Gst.State.NULL)
            print("stopped from the bus callback", flush=True)
            loop.quit()
    elif message.type == Gst.MessageType.ERROR:
        print("error:", message.parse_error()[0].message, flush=True)
        loop.quit()


bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
pipeline.set_state(Gst.State.PLAYING)
loop.run()
stop.set()
worker.join()
pipeline.set_state(Gst.State.NULL)
print("clean exit", flush=True)
