"""Simulated Cell Ranger output with known truth (``scssl simulate``)."""

from .simulate import simulate

__all__ = ["simulate"]
