"""``param_storage()``: the module YAML's ``parameters``, as Savant's stages read them.

Inside a stage of a savantmodule (its import, constructor and hooks): that
module's ``parameters`` as it resolved them, each module its own
(``savant_gst.module_parameters()``). Elsewhere: what
``init_param_storage(mapping_or_path)`` set, or else the module YAML named by the
environment variable ``SAVANT_MODULE_CONFIG`` (reading a file needs PyYAML).
Interpolation of a file covers what Savant's samples write in ``parameters``:
``${parameters.a.b}``, ``${oc.env:NAME}``, ``${oc.env:NAME, default}``,
``${oc.decode:...}`` and ``${json:...}``, nested; a value that is one
interpolation keeps its type.
"""

import json
import os
import re

from .. import HINT

__all__ = ['param_storage', 'init_param_storage']

_STORAGE = None
_INNERMOST = re.compile(r'\$\{([^${}]*)\}')


def init_param_storage(config):
    """Sets the parameters: a mapping, or the path of a module YAML."""
    global _STORAGE
    if isinstance(config, (str, os.PathLike)):
        import yaml

        with open(config, encoding='utf8') as stream:
            config = (yaml.safe_load(stream) or {}).get('parameters') or {}
    _STORAGE = _resolve(dict(config), dict(config), 0)


def param_storage():
    """The module's parameters as a dict."""
    try:
        import savant_gst
    except ImportError:
        savant_gst = None
    reader = getattr(savant_gst, 'module_parameters', None)
    from_module = reader() if reader is not None else None
    if from_module is not None:
        return from_module
    if _STORAGE is None:
        path = os.environ.get('SAVANT_MODULE_CONFIG')
        if not path:
            raise RuntimeError('param_storage(): the module parameters are not known: set '
                               'SAVANT_MODULE_CONFIG to the module YAML (a stage of a savantmodule '
                               'gets its module\'s without it); ' + HINT)
        init_param_storage(path)
    return _STORAGE


def _scalar(text):
    """Text read as a YAML scalar (JSON's where PyYAML is missing)."""
    text = text.strip()
    try:
        import yaml

        return yaml.safe_load(text)
    except ImportError:
        try:
            return json.loads(text)
        except ValueError:
            return text.strip('\'"')


def _resolve(value, root, depth):
    if depth > 32:
        raise ValueError('parameters: a reference cycle')
    if isinstance(value, dict):
        return {key: _resolve(item, root, depth) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, root, depth) for item in value]
    while isinstance(value, str):
        match = _INNERMOST.search(value)
        if match is None:
            break
        result = _interpolate(match.group(1).strip(), root, depth)
        if match.span() == (0, len(value)):
            return result
        value = value[:match.start()] + str(result) + value[match.end():]
    return value


def _interpolate(expression, root, depth):
    resolver, colon, argument = expression.partition(':')
    if not colon and expression.startswith('parameters.'):
        node = root
        for key in expression.split('.')[1:]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        return _resolve(node, root, depth + 1)
    if resolver == 'oc.env':
        name, _, default = argument.partition(',')
        text = os.environ.get(name.strip())
        return _scalar(text if text is not None else default or 'null')
    if resolver == 'oc.decode':
        return _scalar(argument)
    if resolver == 'json':
        return json.loads(argument)
    raise ValueError(f'parameters: ${{{expression}}} is not supported here; {HINT}')
