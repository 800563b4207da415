"""The ``orderflow`` command."""
