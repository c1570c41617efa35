"""``get_nvds_buf_surface``: the frame's pixels as numpy, as in Savant.

The ``buffer`` a Savant ``process_frame`` gets is the ``savant_gst.Frame``; its
array is zero copy, read-only unless the stage runs with ``writable=true``
(Savant's frames are always writable: set ``writable: true`` on the pyfunc).
"""

from contextlib import contextmanager

import numpy as np


@contextmanager
def get_nvds_buf_surface(buffer, nvds_frame_meta=None):
    yield np.asarray(buffer)
