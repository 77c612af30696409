"""Why reduction stopped. A fault is data the viewer shows, not an exception it crashes on.

The classes live in ``trace_viewer.errors`` so the bundle reader can use them
without importing the reducer; this module keeps the reducer's import path.
"""

from __future__ import annotations

from trace_viewer.errors import BundleError, Fault, PayloadError, ReduceError

__all__ = ["BundleError", "Fault", "PayloadError", "ReduceError"]
