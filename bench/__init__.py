"""Benchmarks: commands printing tables (``python -m bench.<name>``), not tests."""
