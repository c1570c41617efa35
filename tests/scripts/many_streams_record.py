"""Shared by many_streams_app.py and many_streams_stage.py: what the stage saw."""
EVENTS = []
