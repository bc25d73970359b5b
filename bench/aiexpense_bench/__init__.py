"""Benchmarks: ``exporter bench`` (pyperf micro-benchmarks, load scenarios, compare)."""
