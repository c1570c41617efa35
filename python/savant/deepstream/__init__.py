"""Savant's ``savant.deepstream`` API over ``savant_gst`` (no DeepStream needed)."""
