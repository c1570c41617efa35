"""Savant's frame metadata over ``savant_gst.Frame``."""
