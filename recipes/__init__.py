"""Shipped degradation recipes (TOML files beside this module)."""
