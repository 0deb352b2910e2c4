"""Weir: declarative integration flows on Kubernetes."""

__version__ = "0.1.0"
