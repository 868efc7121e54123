"""Benchmarks. Each `bench/bench_*.py` measures ratios inside one run and writes
`bench/results/<name>.md`; `python -m bench` runs them all and rewrites BENCHMARKS.md from
every file in bench/results/ (GPU results are produced on a lent GPU machine and committed)."""
