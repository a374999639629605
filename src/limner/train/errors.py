"""The trainers' user-facing errors, in a module that imports nothing heavy.

`limner train` catches them to print one line instead of a traceback, and importing the CLI must not
import torch: so they live here, not beside the torch code that raises most of them.
"""

from __future__ import annotations

__all__ = ["APOConfigError", "DatasetError", "SaliencyConfigError"]


class APOConfigError(ValueError):
    """The APO configuration is invalid; the message names the field and quotes the value."""


class DatasetError(ValueError):
    """The preference dataset is unusable; the message says which row or file and why."""


class SaliencyConfigError(ValueError):
    """The saliency trainer's configuration or data folder is unusable; the message says which and why."""
