"""Label embeddings: how a label enters the input of supervised FF (overlay, append, 2-D patterns, planes)."""

from __future__ import annotations

from .embeddings import LABELS, Append, LabelEmbedding, Overlay, build_labels
from .spatial import LearnedPlanes, SpatialPatterns

__all__ = [
    "LABELS",
    "Append",
    "LabelEmbedding",
    "LearnedPlanes",
    "Overlay",
    "SpatialPatterns",
    "build_labels",
]
