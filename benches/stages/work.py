"""The per-frame work of the queue benchmark, shared by savantpyfunc stages, the
gst-python elements (Savant's way) and the plain-thread ceiling."""

import time

import cv2
import numpy as np

cv2.setNumThreads(1)  # one core per stage: parallelism must come from the pipeline


def blur(img):
    """cv2.GaussianBlur 15x15: releases the GIL while it runs."""
    cv2.GaussianBlur(img, (15, 15), 0)


def spin(seconds):
    """A pure-Python loop: holds the GIL throughout."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


WORK = {
    "blur": blur,
    "py20us": lambda img: spin(20e-6),
    "py1ms": lambda img: spin(1e-3),
}


class Work:
    def __init__(self, kind):
        self.work = WORK[kind]

    def process_frame(self, frame):
        self.work(np.asarray(frame))
