"""The draw benchmark's scene: 100 objects with two-line labels on a 1080p frame,
and the same drawing three ways (spec, Python Artist hook, OpenCV from Python)."""

import cv2
import numpy as np

cv2.setNumThreads(1)

# The 100 objects (boxes in a 10 x 10 grid) arrive with the frames, attached by the
# benchmark's source as region-of-interest metas.


def lines(obj_label, track_id, confidence):
    return [f"{obj_label} #{track_id}", f"{confidence:.2f}"]


class ArtistDraw:
    """The spec's drawing, through the Python hook's Artist."""

    def draw(self, frame, artist):
        for obj in frame.objects:
            x, y, w, h = obj.box
            artist.add_bbox(obj.box, border_color="FF0000FF", thickness=2)
            artist.add_text("\n".join(lines(obj.label, obj.track_id, obj.confidence)),
                            (x, y - 34), font_scale=0.5, font_color="FFFFFFFF",
                            background_color="000000FF")


class OpenCvDraw:
    """What a Savant user writes today: cv2 calls from a pyfunc, writable frame."""

    def process_frame(self, frame):
        img = np.asarray(frame)
        for obj in frame.objects:
            x, y, w, h = obj.box
            cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (255, 0, 0, 255), 2)
            cv2.rectangle(img, (x, y - 34), (x + 70, y), (0, 0, 0, 255), -1)
            for i, line in enumerate(lines(obj.label, obj.track_id, obj.confidence)):
                cv2.putText(img, line, (x + 2, y - 20 + i * 16), cv2.FONT_HERSHEY_SIMPLEX,
                            0.5, (255, 255, 255, 255), 1, cv2.LINE_AA)
