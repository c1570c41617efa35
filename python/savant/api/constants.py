"""Savant's API constants."""

DEFAULT_NAMESPACE = 'default'
DEFAULT_TIME_BASE = (1, 10**9)
DEFAULT_FRAMERATE = '30/1'
