"""Benchmarks (not part of the test suite) and the bench-only Django app of the HTTP benchmark."""
