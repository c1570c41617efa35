#!/usr/bin/env python3
"""A PyGObject app that runs savantpyfunc inside its own Python interpreter.

    GST_PLUGIN_PATH=target/release python3 examples/pygobject_app.py [--wait mainloop|poll]

The plugin joins the app's interpreter (no second one starts). The app must block in
a call that releases the GIL — GLib.MainLoop().run() or bus.timed_pop_filtered() —
so the streaming threads can run Python; a Python busy loop would starve them.
"""

import argparse
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--wait", choices=["mainloop", "poll"], default="mainloop")
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()

    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"videotestsrc pattern=ball num-buffers={args.frames} "
        "! video/x-raw,format=RGBA,width=320,height=240 "
        f"! savantpyfunc name=finder module={HERE}/ball.py class-name=BallFinder "
        "! fakesink"
    )
    finder = pipeline.get_by_name("finder")
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)

    failed = False
    if args.wait == "mainloop":
        loop = GLib.MainLoop()

        def on_message(_bus, message):
            nonlocal failed
            if message.type == Gst.MessageType.ERROR:
                err, debug = message.parse_error()
                print(f"error: {err.message}\n{debug}", file=sys.stderr)
                failed = True
                loop.quit()
            elif message.type == Gst.MessageType.EOS:
                loop.quit()

        bus.add_signal_watch()
        bus.connect("message", on_message)
        loop.run()
        bus.remove_signal_watch()
    else:
        message = bus.timed_pop_filtered(
            30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
        )
        if message is None or message.type == Gst.MessageType.ERROR:
            print("error: no EOS within 30 s" if message is None else message.parse_error()[0].message,
                  file=sys.stderr)
            failed = True

    stats = finder.get_property("stats")
    pipeline.set_state(Gst.State.NULL)
    print(f"stats: frames={stats.get_value('frames')} errors={stats.get_value('errors')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
