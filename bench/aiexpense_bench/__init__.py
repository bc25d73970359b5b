"""Benchmarks: ``aiexpense-bench`` (pyperf micro-benchmarks, load scenarios, compare)."""
