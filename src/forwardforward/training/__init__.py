"""Training: the Trainer (one optimiser step for every schedule and variant), callbacks, checkpoints,
streams and multi-process strategies."""
