"""Faster all-label prediction: an int8 copy of the network and a calibrated cascade."""

from __future__ import annotations

from .cascade import CascadeScorer, evaluate_cascade
from .int8 import Int8Linear, quantize_int8

__all__ = ["CascadeScorer", "Int8Linear", "evaluate_cascade", "quantize_int8"]
