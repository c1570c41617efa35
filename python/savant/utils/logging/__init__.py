"""``get_logger`` and ``LoggerMixin``: plain ``logging`` loggers under ``savant.``.

A stage's records reach GStreamer's debug log under its element (see README,
"savantpyfunc properties"), so ``GST_DEBUG=savantpyfunc:5`` shows ``debug`` lines.
"""

import logging


def get_logger(name):
    """The logger ``savant.<name>`` (Savant's naming)."""
    if name != 'savant' and not name.startswith('savant.'):
        name = f'savant.{name}'
    return logging.getLogger(name)


def init_logging(*args, **kwargs):
    """Accepted for Savant's entry points; GST_DEBUG sets the levels here."""


class _Logger:
    """``self.logger``, named after the class's module, made on first use (even
    before ``__init__`` ran); assigning ``self.logger`` replaces it."""

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        logger = instance.__dict__['logger'] = get_logger(type(instance).__module__)
        return logger


class LoggerMixin:
    logger = _Logger()
