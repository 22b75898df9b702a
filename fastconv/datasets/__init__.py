"""Datasets: mnist."""
from . import mnist

__all__ = ["mnist"]
