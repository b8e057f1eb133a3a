"""The package's version, in the lowest layer so that every module (the ``ff`` command included) can read it
without importing the package's public API, and ``pyproject.toml`` reads it from here too."""

__version__ = "0.1.0"
