"""Loads the plugin's ``savant_gst`` module into a plain Python process.

Inside a pipeline the plugin provides ``savant_gst`` itself and this file is never
imported. Elsewhere (unit tests of a stage, a PyGObject app reading frames in a probe)
put this package's folder on ``PYTHONPATH`` and ``import savant_gst`` finds the
plugin library:

- ``SAVANT_GST_LIBRARY``: the path of ``libgstsavant.so``, if set;
- otherwise the newest of ``release`` and ``debug`` in cargo's target folder: the
  checkout's ``target`` (this package lives in ``<checkout>/python/savant_gst``), or
  ``CARGO_TARGET_DIR`` when that is set, as cargo itself does.

The library exports ``PyInit_savant_gst``; once loaded it replaces this package in
``sys.modules``, so ``savant_gst.Frame`` is the plugin's own type.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _library():
    explicit = os.environ.get("SAVANT_GST_LIBRARY")
    if explicit:
        if not os.path.isfile(explicit):
            raise ImportError(f"SAVANT_GST_LIBRARY={explicit} does not exist")
        return explicit
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(checkout, "target")
    if not os.path.isabs(target):
        target = os.path.join(checkout, target)
    built = [
        os.path.join(target, profile, "libgstsavant.so")
        for profile in ("release", "debug")
    ]
    built = [path for path in built if os.path.isfile(path)]
    if not built:
        raise ImportError(
            f"libgstsavant.so not found in {target}/release or {target}/debug: "
            "run `cargo build` or set SAVANT_GST_LIBRARY"
        )
    return max(built, key=os.path.getmtime)


def _load():
    path = _library()
    loader = importlib.machinery.ExtensionFileLoader(__name__, path)
    spec = importlib.util.spec_from_file_location(__name__, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[__name__] = module
    try:
        loader.exec_module(module)
    except BaseException:
        del sys.modules[__name__]
        raise
    return module


_load()
