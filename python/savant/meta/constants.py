"""Savant's metadata constants.

``UNTRACKED_OBJECT_ID`` is Savant's "no track id"; here an untracked object's
``track_id`` is None, and the adapters translate both ways.
"""

UNTRACKED_OBJECT_ID = 2**64 - 1
DEFAULT_CONFIDENCE = 1.0
DEFAULT_MODEL_NAME = 'auto'
PRIMARY_OBJECT_LABEL = 'frame'
PRIMARY_OBJECT_KEY = f'{DEFAULT_MODEL_NAME}.{PRIMARY_OBJECT_LABEL}'
