"""Keyed, format-preserving, referentially consistent anonymization of Unity Catalog tables."""

from importlib import metadata

try:
    __version__ = metadata.version("anonymizer")
except metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"
