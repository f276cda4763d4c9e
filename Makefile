# The two commands of README.md. Each sets up what it needs first (scripts/setup.sh).
.PHONY: demo test setup bench lint

PORT ?= 8000

demo:  ## set up, then run the demo console on http://127.0.0.1:$(PORT)/
	bash scripts/setup.sh
	.venv/bin/zhizhi demo --port $(PORT)

test:  ## set up, then run the whole test suite
	bash scripts/setup.sh --test
	.venv/bin/python -m pytest -q

setup:
	bash scripts/setup.sh --test

bench:  ## benchmarks (outside the test suite)
	bash scripts/setup.sh
	.venv/bin/zhizhi bench spatial --json

lint:
	.venv/bin/ruff check .
