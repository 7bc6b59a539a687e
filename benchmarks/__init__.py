"""Benchmarks of studyhall, run with `make bench`."""
