"""gitsync: file sync and backup built on git."""

__version__ = "0.1.0"
