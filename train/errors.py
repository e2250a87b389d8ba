"""The trainer's errors, defined once; every module that raises or catches them imports them from here."""

from __future__ import annotations


class TrainError(Exception):
    """The run cannot start; the message says what is wrong and what to do."""


class TrainStopped(TrainError):
    """The run stopped on an error it cannot work around (e.g. non-finite losses again and again)."""
