"""Stages of benches/cuda.rs: the same per-frame work on 1080p NV12 frames, done on
CUDA frames in place (zero copy), on system-memory frames uploaded and downloaded
inside the stage, and on the CPU.

CuPy: a per-pixel kernel inverts every byte of both planes. PyTorch: a 3x3 blur
(conv2d) of the luma plane. Each writes its result back into the frame
(writable=true), so the three variants hand the same pixels downstream."""

import time

import numpy as np

INVERT = None


def _invert():
    global INVERT
    if INVERT is None:
        import cupy

        INVERT = cupy.ElementwiseKernel("uint8 x", "uint8 y", "y = 255 - x", "savant_invert")
    return INVERT


class CupyZeroCopy:
    def process_frame(self, frame):
        import cupy

        for i in range(2):
            plane = cupy.asarray(frame.plane(i))
            _invert()(plane, plane)


class CupyRoundTrip:
    def process_frame(self, frame):
        import cupy

        for i in range(2):
            host = np.asarray(frame.plane(i))
            device = cupy.asarray(host)
            _invert()(device, device)
            # Rows of cudadownload's frames are padded: assign, not get(out=).
            host[...] = cupy.asnumpy(device)


class NumpyCpu:
    def process_frame(self, frame):
        for i in range(2):
            host = np.asarray(frame.plane(i))
            np.subtract(255, host, out=host)


class _Blur:
    def __init__(self, device):
        import torch

        self.torch = torch
        self.weight = torch.full((1, 1, 3, 3), 1.0 / 9, device=device)

    def blur(self, y):
        torch = self.torch
        out = torch.nn.functional.conv2d(y[None, None].float(), self.weight, padding=1)
        return out[0, 0].round_().clamp_(0, 255).to(torch.uint8)


class TorchZeroCopy(_Blur):
    def __init__(self):
        super().__init__("cuda")

    def process_frame(self, frame):
        y = self.torch.as_tensor(frame.plane(0), device="cuda")
        y.copy_(self.blur(y))


class TorchRoundTrip(_Blur):
    def __init__(self):
        super().__init__("cuda")

    def process_frame(self, frame):
        host = np.asarray(frame.plane(0))
        y = self.torch.from_numpy(host).cuda()
        host[...] = self.blur(y).cpu().numpy()


class TorchCpu(_Blur):
    def __init__(self):
        super().__init__("cpu")

    def process_frame(self, frame):
        host = np.asarray(frame.plane(0))
        y = self.torch.from_numpy(host)
        host[...] = self.blur(y).numpy()


class Slow:
    """Holds each frame 40 ms, so a savantqueue in front of it fills up."""

    def process_frame(self, frame):
        time.sleep(0.04)
