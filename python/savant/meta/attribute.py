"""Savant's ``AttributeMeta``, and how Savant's attributes are stored here.

Savant keys an object's attributes by ``(element_name, name)``, each holding a
list of values with a confidence. They are kept in the object's own
``attributes`` (the primary object's in the frame's ``attributes``), so every
stage, the draw spec (``{attributes.peoplenet.age}``) and C code (the ROI meta's
``savant-object-attributes``) see them:

- ``"<element_name>.<name>"``: the first value; ``"...#1"``, ``"...#2"``: more
  values (Savant's multi-label attributes);
- str, int, float and bool values are stored as they are; anything else (lists,
  dicts, None) as JSON text, marked by a ``"<key>:json"`` entry set to True;
- a confidence other than 1.0 goes to ``"<key>:confidence"``.
"""

import json
from dataclasses import dataclass
from typing import Any

_PLAIN = (str, int, float, bool)


@dataclass
class AttributeMeta:
    """One attribute value, as Savant gives it."""

    element_name: str
    name: str
    value: Any
    confidence: float = 1.0


def _key(element_name, name, index):
    key = f'{element_name}.{name}'
    return key if index == 0 else f'{key}#{index}'


def _plain(value):
    if isinstance(value, _PLAIN):
        return value
    item = getattr(value, 'item', None)  # numpy scalars
    if item is not None and getattr(value, 'ndim', None) == 0:
        return item()
    return None


def _json_default(value):
    for name in ('tolist', 'as_ltwh'):  # numpy arrays, boxes
        if hasattr(value, name):
            return getattr(value, name)()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f'attribute value {value!r} cannot be stored')


def get_list(store, element_name, name):
    """The values of ``(element_name, name)`` in ``store``, or None."""
    values, index = [], 0
    while True:
        key = _key(element_name, name, index)
        if key not in store:
            return values or None
        value = store[key]
        if store.get(f'{key}:json') is True:
            value = json.loads(value)
        confidence = store.get(f'{key}:confidence', 1.0)
        values.append(AttributeMeta(element_name, name, value, confidence))
        index += 1


def put(store, element_name, name, value, confidence=1.0, index=0):
    """Stores one value at ``index`` (0 is the first)."""
    key = _key(element_name, name, index)
    plain = _plain(value)
    if plain is not None:
        store[key] = plain
        store.pop(f'{key}:json', None)
    else:
        store[key] = json.dumps(value, default=_json_default)
        store[f'{key}:json'] = True
    if confidence is None or float(confidence) == 1.0:
        store.pop(f'{key}:confidence', None)
    else:
        store[f'{key}:confidence'] = float(confidence)


def remove(store, element_name, name):
    """Removes every value of ``(element_name, name)``."""
    index = 0
    while _key(element_name, name, index) in store:
        key = _key(element_name, name, index)
        for suffix in ('', ':json', ':confidence'):
            store.pop(key + suffix, None)
        index += 1


def add(store, element_name, name, value, confidence=1.0, replace=False):
    """Savant's ``add_attr_meta``: appends a value, or replaces the list."""
    if replace:
        remove(store, element_name, name)
    existing = get_list(store, element_name, name)
    put(store, element_name, name, value, confidence, len(existing or ()))
