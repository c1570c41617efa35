import numpy as np


def process_frame(frame):
    np.asarray(frame)
