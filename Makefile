# Targets match the README: `make quickstart` and `make test` run the same scripts.
.PHONY: quickstart test lint bench fuzz

quickstart:
	./scripts/quickstart

test:
	./scripts/test

# The fuzz suites with a larger example budget than the test run gives them (seeded: a failure
# found here is found again).
fuzz:
	CORRIDOR_FUZZ_EXAMPLES=$${CORRIDOR_FUZZ_EXAMPLES:-300} .venv/bin/pytest tests/fuzz -q

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy src/corridor

# The data benchmarks compare against pandera and Great Expectations: `pip install -e '.[bench]'`.
bench:
	.venv/bin/python benchmarks/blobs/bench_blobs.py
	.venv/bin/python benchmarks/data/bench_validate.py
	.venv/bin/python benchmarks/data/bench_clean.py
	.venv/bin/python benchmarks/data/bench_ingest.py
	.venv/bin/python benchmarks/data/bench_ingest_memory.py
	.venv/bin/python benchmarks/tracking/bench_tracking.py
	.venv/bin/python benchmarks/compute/bench_placement.py
	.venv/bin/python benchmarks/compute/bench_carbon.py
	.venv/bin/python benchmarks/compute/bench_map_ray.py
	.venv/bin/python benchmarks/training/bench_throughput.py
	.venv/bin/python benchmarks/training/bench_first_step.py
	.venv/bin/python benchmarks/pipelines/bench_pipelines.py
