"""Reliability suites (issue #30): injected tool faults, a flaky OpenAI-compatible endpoint, killed and resumed
runs, concurrent writers, a corpus of bad inputs and a secrets scan. Each part counts what it tried, so
`benchmarks/reliability.py --json` reports the same figures the tests assert. See docs/reliability.md.

The package is importable as `reliability` (pytest puts `tests/` on sys.path; the benchmark does the same),
and the fault-injecting tools are configured in YAML as `backend: 'reliability.faults:FaultyPainter'`.
"""
