"""The one place the labsctl version is written."""

__version__ = "0.1.0"
