"""workers benchmark: a stage whose work releases the GIL for ~30 ms per frame
(OpenCV on one core), and a trivial one."""

import cv2
import numpy as np

cv2.setNumThreads(1)


def heavy(frame):
    img = np.asarray(frame)
    for _ in range(6):
        cv2.GaussianBlur(img, (15, 15), 0)


def trivial(frame):
    return None
