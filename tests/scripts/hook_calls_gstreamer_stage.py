"""Stages whose hooks call GStreamer: the action is picked by the app
(tests/scripts/hook_calls_gstreamer.py) through __main__.do_action."""
import os
import time

import __main__

AT = int(os.environ.get("HOOK_AT", "5"))
WHERE = os.environ.get("HOOK_WHERE", "frame")
count = 0


def run(where):
    result = __main__.do_action()
    print(f"[hook] {where} returned {result!r}", flush=True)


class Stage:
    def process_frame(self, frame):
        global count
        count += 1
        if count == AT and WHERE == "frame":
            run("process_frame")
        return True

    def on_eos(self):
        if WHERE == "eos":
            run("on_eos")

    def draw(self, frame, artist):
        return self.process_frame(frame)


class Slow(Stage):
    """Releases the GIL for 2 ms a frame, so workers=2 runs the calls on workers."""

    def process_frame(self, frame):
        time.sleep(0.002)
        return super().process_frame(frame)


class Quiet:
    def process_frame(self, frame):
        return True
