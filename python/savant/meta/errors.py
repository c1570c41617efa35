"""Savant's metadata errors."""


class MetaValueError(ValueError):
    """A metadata value that cannot be stored."""
