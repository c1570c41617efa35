"""Savant's OpenCV CUDA helpers (``GpuMat`` views of DeepStream surfaces).

There are no DeepStream surfaces here: frames are numpy arrays
(``np.asarray(frame)``, OpenCV's CPU calls) or, with ``memory=cuda``, CUDA arrays
(``cupy.asarray(frame)``).
"""

from .. import unsupported

_INSTEAD = ('use np.asarray(buffer) with OpenCV, or cupy.asarray(frame) on CUDA frames '
            '(savantpyfunc memory=cuda)')


def nvds_to_gpu_mat(*args, **kwargs):
    raise unsupported('nvds_to_gpu_mat', _INSTEAD)


def apply_cuda_filter(*args, **kwargs):
    raise unsupported('apply_cuda_filter', _INSTEAD)


def alpha_comp(*args, **kwargs):
    raise unsupported('alpha_comp', _INSTEAD)


def draw_rect(*args, **kwargs):
    raise unsupported('draw_rect', _INSTEAD)
