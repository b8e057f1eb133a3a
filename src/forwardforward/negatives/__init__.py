"""Negative data: wrong labels (random, hard) for supervised FF, negative images (hybrid, SCFF, the user's
bad data) for unsupervised FF."""

from __future__ import annotations

from .images import IMAGE_NEGATIVES, HybridNegatives, ImageNegatives, SelfContrastivePairs, UserNegatives
from .labels import NEGATIVES, HardLabel, LabelNegatives, RandomLabel, build_negatives

__all__ = [
    "IMAGE_NEGATIVES",
    "NEGATIVES",
    "HardLabel",
    "HybridNegatives",
    "ImageNegatives",
    "LabelNegatives",
    "RandomLabel",
    "SelfContrastivePairs",
    "UserNegatives",
    "build_negatives",
]
