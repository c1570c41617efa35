"""A stage as its author writes it: the brightest spot becomes an object, and its
draw hook outlines it. Unit-tested in plain Python (unit_test_stage.py) and run in a
pipeline read by a PyGObject app (appsink_from_buffer.py)."""

import numpy as np

LUMA_FIRST = ("I420", "YV12", "NV12", "NV21", "Y444")


class BrightSpot:
    def __init__(self, size=8, **kwargs):
        self.size = size
        self.frames = 0

    def process_frame(self, frame):
        self.frames += 1
        if frame.format in LUMA_FIRST:
            luma = np.asarray(frame.plane(0)).astype(np.int32)
        else:
            pixels = np.asarray(frame)
            luma = pixels.astype(np.int32)
            if pixels.ndim == 3:
                luma = luma[:, :, :3].sum(axis=2)
        y, x = (int(v) for v in np.unravel_index(int(luma.argmax()), luma.shape))
        half = self.size // 2
        frame.add_object("spot", (x - half, y - half, self.size, self.size),
                         confidence=1.0, track_id=self.frames,
                         attributes={"luma": int(luma[y, x])})
        frame.attributes["frames"] = self.frames
        frame.attributes["spot"] = f"{x},{y}"
        if frame.writable and frame.format not in LUMA_FIRST:
            # A writable stage marks the spot it found in the pixels.
            np.asarray(frame)[y, x] = 0

    def draw(self, frame, artist):
        for obj in frame.objects:
            artist.add_bbox(obj.box, 2, (255, 0, 0, 255))
            artist.add_text(f"{obj.label} {obj.confidence:.2f}", (obj.x, obj.y))
