"""Evaluation: scoring a checkpoint, baselines, the privileged-access experiment and its report."""
