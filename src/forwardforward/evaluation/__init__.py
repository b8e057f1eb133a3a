"""Measuring what a network learned: the linear probe and the backprop twins."""
