# Targets match the README: `make quickstart` and `make test` run the same scripts.
.PHONY: quickstart test lint bench

quickstart:
	./scripts/quickstart

test:
	./scripts/test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy src/corridor

bench:
	.venv/bin/python benchmarks/blobs/bench_blobs.py
	.venv/bin/python benchmarks/tracking/bench_tracking.py
