"""Savant's DeepStream helpers that have a meaning here."""

from .surface import get_nvds_buf_surface  # noqa: F401


def __getattr__(name):
    from ... import unsupported

    if name.startswith('nvds_'):
        raise unsupported(f'savant.deepstream.utils.{name} (DeepStream metadata and tensors)',
                          'frames and their objects are savant_gst.Frame')
    raise AttributeError(name)
