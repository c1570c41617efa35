"""Savant's metadata classes over ``savant_gst`` frames and objects."""
