"""Kubernetes Journey helpers: the small Python API the notebooks call.

The public API is re-exported here as modules land; notebooks import from
``helpers`` (or a component module) only.
"""

__version__ = "0.1.0"
