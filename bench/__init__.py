"""Benchmarks: numbers live here, never in tests. Results go to bench/results/ as JSON."""
