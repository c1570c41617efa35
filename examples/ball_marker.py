"""Reads the ball attributes set by an earlier stage and marks the ball in place.

Runs with `writable=true`, so `np.asarray(frame)` is a writable view of the frame.
"""

import numpy as np


class BallMarker:
    def __init__(self, color=(255, 64, 0)):
        self.color = np.array(color, dtype=np.uint8)
        self.path = []

    def process_frame(self, frame):
        attrs = frame.attributes
        if not attrs.get("ball_found"):
            return True
        img = np.asarray(frame)
        x, y, w, h = (attrs[k] for k in ("ball_x", "ball_y", "ball_w", "ball_h"))
        # A 3-pixel box around the ball and a dot at its centre.
        for t in range(3):
            img[max(y - t, 0), x : x + w, :3] = self.color
            img[min(y + h - 1 + t, frame.height - 1), x : x + w, :3] = self.color
            img[y : y + h, max(x - t, 0), :3] = self.color
            img[y : y + h, min(x + w - 1 + t, frame.width - 1), :3] = self.color
        cx, cy = int(attrs["ball_cx"]), int(attrs["ball_cy"])
        img[max(cy - 2, 0) : cy + 3, max(cx - 2, 0) : cx + 3, :3] = self.color
        self.path.append((cx, cy))
        return True

    def on_eos(self):
        if self.path:
            xs, ys = zip(*self.path)
            print(
                f"marker: marked {len(self.path)} frames; ball centre x {min(xs)}..{max(xs)}, "
                f"y {min(ys)}..{max(ys)}"
            )
