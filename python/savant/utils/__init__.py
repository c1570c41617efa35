"""Savant's ``savant.utils``: the artist and logging."""
