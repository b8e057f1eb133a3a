"""Label embeddings: how a label enters the input of supervised FF (overlay, append, 2-D patterns, strips
on the image, planes)."""

from __future__ import annotations

from .embeddings import LABELS, Append, LabelEmbedding, Overlay, build_labels
from .spatial import LearnedPlanes, SpatialOverlay, SpatialPatterns

__all__ = [
    "LABELS",
    "Append",
    "LabelEmbedding",
    "LearnedPlanes",
    "Overlay",
    "SpatialOverlay",
    "SpatialPatterns",
    "build_labels",
]
