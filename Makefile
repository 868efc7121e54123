# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | md5sum | cut -c1-8)
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test test-slow test-all lint format bench browser-deps

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## setup: virtual environment + offline model set (idempotent)
setup: $(STAMP)
	$(PY) -m core.assets fetch

## run: start the app on 127.0.0.1:7860 (offline set when real weights are absent)
run: setup
	$(PY) app.py $(ARGS)

browser-deps:
	bash scripts/install-browser.sh

## test: the default suite (offline, < 15 min on 2 cores)
test: setup browser-deps
	$(PY) -m pytest -m "not slow and not gpu and not real_weights" $(PYTEST_ARGS)

## test-slow: the minutes-long tests (training runs, full evaluation)
test-slow: setup
	$(PY) -m pytest -m "slow and not gpu and not real_weights" $(PYTEST_ARGS)

test-all: setup browser-deps
	$(PY) -m pytest -m "not real_weights" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## bench: run bench/ and rewrite BENCHMARKS.md
bench: setup
	$(PY) -m bench
