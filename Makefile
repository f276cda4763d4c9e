# The two commands of README.md. Each sets up what it needs first (scripts/setup.sh).
.PHONY: demo test setup bench lint cluster

PORT ?= 8000

demo:  ## set up, then run the demo console on http://127.0.0.1:$(PORT)/
	bash scripts/setup.sh
	.venv/bin/zhizhi demo --port $(PORT)

test:  ## set up, lint, then run the whole test suite
	bash scripts/setup.sh --test
	$(MAKE) lint
	.venv/bin/python -m pytest -q

cluster:  ## set up, then run 2 consoles and 3 workers on PostgreSQL and Redis (docs/scale-out.md)
	bash scripts/setup.sh
	bash scripts/install_postgis.sh
	.venv/bin/zhizhi cluster

setup:
	bash scripts/setup.sh --test

bench:  ## benchmarks (outside the test suite)
	bash scripts/setup.sh
	.venv/bin/zhizhi bench spatial --json

lint:  ## the layers contract (pyproject.toml [tool.importlinter]), ruff, eslint
	.venv/bin/lint-imports
	.venv/bin/ruff check .
	console/frontend/node_modules/.bin/eslint -c console/frontend/eslint.config.js console/static
