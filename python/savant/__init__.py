"""Savant's Python API on top of ``savant_gst``: Savant stages run here unchanged.

Put this checkout's ``python/`` folder on ``PYTHONPATH`` (as for ``savant_gst``) and
Savant's imports resolve to thin adapters over the plugin's own types:

=========================================== ==========================================
Savant                                      here
=========================================== ==========================================
``NvDsPyFuncPlugin.process_frame(buffer,    savantpyfunc's ``process_frame(frame)``;
frame_meta)``                               ``buffer`` is the ``savant_gst.Frame``
``NvDsFrameMeta``                           a view of that frame
``ObjectMeta``                              a view of a ``savant_gst.Object``
object attribute ``(element_name, name)``   object attribute ``"element_name.name"``
primary object (``auto``/``frame``), roi    the frame itself: its attributes, and
                                            ``savant.roi`` (see meta.frame)
``NvDsDrawFunc.draw_on_frame``,             savantdrawfunc's ``draw(frame, artist)``
``override_draw_spec``                      and ``override_draw_spec(obj, spec)``
``Artist``                                  ``savant_gst.Artist`` with Savant's defaults
=========================================== ==========================================

Nothing here runs unless a stage imports it: stages written for ``savant_gst``
pay nothing. DeepStream-only parts (``pyds``, GPU mats, sprites, tensors) raise an
error that says so; README, "Coming from Savant", says what to use instead.
"""

import importlib.abc
import sys

HINT = 'see "Coming from Savant" in the gst-savant README'


def unsupported(what, instead=''):
    """The error for a Savant feature that has no equivalent here."""
    message = f'{what} is not available in gst-savant (no DeepStream here)'
    if instead:
        message += f'; {instead}'
    return NotImplementedError(f'{message}; {HINT}')


class _DeepStreamOnly(importlib.abc.MetaPathFinder):
    """Found last, for what nothing else found: ``import pyds`` and Savant modules
    this package does not have (DeepStream tensors and iterators, the client SDK,
    ...) say why instead of a bare "No module named"."""

    def find_spec(self, name, path=None, target=None):
        top = name.partition('.')[0]
        if top in ('pyds', 'pygstsavantframemeta'):
            raise ModuleNotFoundError(
                f'{name} is part of NVIDIA DeepStream, which gst-savant does not use: '
                'frames are savant_gst.Frame (np.asarray(frame)), objects are '
                f'frame.objects; {HINT}', name=name)
        if top == 'savant':
            raise ModuleNotFoundError(
                f'{name} has no equivalent in gst-savant (DeepStream metadata and '
                f'tensors, adapters and the client SDK are not part of it); {HINT}',
                name=name)
        return None


if not any(isinstance(f, _DeepStreamOnly) for f in sys.meta_path):
    sys.meta_path.append(_DeepStreamOnly())
