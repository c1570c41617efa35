"""Names from Savant's ``savant.api`` that stages import."""

from .constants import DEFAULT_FRAMERATE, DEFAULT_NAMESPACE, DEFAULT_TIME_BASE  # noqa: F401
