"""Performance benchmarks for trace_viewer (``python -m benchmarks``); not part of the test suite."""
