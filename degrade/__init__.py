"""Degradation engine: ops (sample once, apply deterministically), recipes, logs and replay."""
