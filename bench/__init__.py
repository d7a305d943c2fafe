"""Benchmarks: `python -m bench.run [--quick]` prints each figure beside a baseline measured in the same run."""
