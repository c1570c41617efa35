"""The "model" of the many-streams benchmark: a 100 MB weight matrix and a matrix
product per call. Reading the weights dominates a call, so a batch of frames costs
far less than that many single calls (as with real models on a GPU or BLAS)."""

import numpy as np

K = 60 * 80  # features: the frame's red channel, every 8th pixel of 640x480


class Model:
    def __init__(self, model_mb=100):
        outputs = int(model_mb * 1e6 / (K * 4))
        self.weights = np.full((K, outputs), 1e-3, dtype=np.float32)

    def features(self, frame):
        return np.asarray(frame)[::8, ::8, 0].reshape(-1)[:K].astype(np.float32)

    def infer(self, features):
        scores = features @ self.weights
        return scores.argmax(axis=-1)

    def process_frame(self, frame):
        frame.attributes["class"] = int(self.infer(self.features(frame)))


class BatchModel(Model):
    def process_batch(self, frames):
        classes = self.infer(np.stack([self.features(f) for f in frames]))
        for frame, c in zip(frames, classes):
            frame.attributes["class"] = int(c)
