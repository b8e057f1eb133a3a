"""Negative data behind one interface (:class:`Negatives`) and one registry (``NEGATIVES``): wrong labels
(random, hard) for supervised FF, negative images (hybrid, SCFF, the user's bad data) for unsupervised FF."""

from __future__ import annotations

from .base import NEGATIVES, Negatives, build_negatives, check_schedule
from .images import (
    HybridNegatives,
    ImageNegatives,
    NegativeSourceError,
    PixelNoise,
    SelfContrastivePairs,
    UserNegatives,
)
from .labels import HardLabel, LabelNegatives, RandomLabel

__all__ = [
    "NEGATIVES",
    "HardLabel",
    "HybridNegatives",
    "ImageNegatives",
    "LabelNegatives",
    "NegativeSourceError",
    "Negatives",
    "PixelNoise",
    "RandomLabel",
    "SelfContrastivePairs",
    "UserNegatives",
    "build_negatives",
    "check_schedule",
]
