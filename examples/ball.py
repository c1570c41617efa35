"""Finds the bouncing ball of `videotestsrc pattern=ball` with numpy.

The ball is the only bright region on a dark background: threshold, then take the
bounding box of the bright pixels. The result goes into frame attributes, which
travel downstream with the buffer (any later savantpyfunc can read them), and into
an object that savantdrawfunc draws.
"""

import numpy as np


class BallFinder:
    def __init__(self, threshold=200, min_pixels=20):
        self.threshold = threshold
        self.min_pixels = min_pixels
        self.frames = 0
        self.found = 0

    def on_caps(self, info):
        print(f"ball: {info.width}x{info.height} {info.format} @ {info.fps:.2f} fps")

    def process_frame(self, frame):
        self.frames += 1
        rgb = np.asarray(frame)[:, :, :3]  # zero-copy view of the mapped buffer
        bright = rgb.min(axis=2) > self.threshold
        ys, xs = np.nonzero(bright)
        found = xs.size >= self.min_pixels
        frame.attributes["ball_found"] = bool(found)
        if found:
            self.found += 1
            x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
            frame.attributes.update(
                ball_x=x0, ball_y=y0, ball_w=x1 - x0 + 1, ball_h=y1 - y0 + 1,
                ball_cx=float(xs.mean()), ball_cy=float(ys.mean()),
            )
            # Also an object (a GstVideoRegionOfInterestMeta) that savantdrawfunc draws.
            share = xs.size / float((x1 - x0 + 1) * (y1 - y0 + 1))
            frame.add_object("ball", (x0, y0, x1 - x0 + 1, y1 - y0 + 1),
                             confidence=round(share, 2), track_id=1,
                             attributes={"pixels": int(xs.size)})

    def on_eos(self):
        print(f"ball: found in {self.found} of {self.frames} frames")
