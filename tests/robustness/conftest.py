"""Fixtures of the robustness suite; they live in robust_helpers.py (a uniquely named module, so the
tests can import its helpers whatever other conftest.py pytest loaded first)."""

from robust_helpers import *  # noqa: F401,F403
