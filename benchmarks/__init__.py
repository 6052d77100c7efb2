"""Benchmarks: scripts that print measured figures (not timed tests)."""
