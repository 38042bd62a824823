# Spend's entry points: `make demo` runs the main job, `make test` the whole suite.
# Everything installs into .venv from requirements.lock (compiled by uv from pyproject.toml),
# so a fresh machine needs only python3 >= 3.11 and make.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint lock bench bento clean

$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.13"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	# Bytecode for plain and optimised runs (the service runs with PYTHONOPTIMIZE=1: serving/launch.py),
	# written once here: with PYTHONDONTWRITEBYTECODE set, every start-up would compile from source
	# (the service took 25 s to be ready that way, 10 s with this).
	$(BIN)/python -m compileall -q -j 0 -o 0 -o 1 $(VENV)/lib > /dev/null
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/spend demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python benchmarks/ingest.py --repeats 3 --json
	$(BIN)/python benchmarks/ingest_growth.py --json
	$(BIN)/python benchmarks/features.py --json
	$(BIN)/python benchmarks/customer_models.py --json
	$(BIN)/python benchmarks/fraud.py --json
	$(BIN)/python benchmarks/demand.py --json
	$(BIN)/python benchmarks/demand_prices.py --json
	$(BIN)/python benchmarks/new_products.py --json
	$(BIN)/python benchmarks/demand_categories.py --json
	$(BIN)/python benchmarks/promotion_flag.py --json
	$(BIN)/python benchmarks/pricing.py --json
	$(BIN)/python benchmarks/offers.py --json
	$(BIN)/python benchmarks/serving.py --json
	$(BIN)/python benchmarks/stress.py --json
	$(BIN)/python benchmarks/reliability.py --json
	$(BIN)/python benchmarks/governance.py --json
	$(BIN)/python benchmarks/scale.py --json

# The service as a bento: Spend's wheel first (bentofile.yaml installs it), then `bentoml build`.
bento: install
	rm -rf dist build
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w dist .
	rm -rf build
	$(BIN)/bentoml build .

# Re-pin every dependency after editing pyproject.toml: the development lock (everything, tests, tools and
# Spark included: the suite tests the cluster environment) and the bento's (the service's dependencies only, at the same versions).
lock: install
	$(BIN)/uv pip compile --quiet --python-version 3.11 pyproject.toml --extra dev --extra spark -o requirements.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 pyproject.toml -c requirements.lock -o requirements-serve.lock

clean:
	rm -rf $(VENV) .spend dist build
