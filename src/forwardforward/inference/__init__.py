"""Faster all-label prediction: an int8 copy of the network, a fused int8 scorer and a calibrated cascade."""

from __future__ import annotations

from .cascade import CascadeScorer, evaluate_cascade
from .fused import FusedInt8Scorer
from .int8 import Int8Linear, quantize_int8

__all__ = ["CascadeScorer", "FusedInt8Scorer", "Int8Linear", "evaluate_cascade", "quantize_int8"]
