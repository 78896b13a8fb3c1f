# Two commands matter: `make book` and `make test`. Both bootstrap .venv from the lock first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA := data/synthetic
JOBS ?= 2

.PHONY: help book test lint format data sysdeps mathjax notebooks test-notebooks assignments check-assignments bench clean

help:
	@echo "make book         set up .venv, make the synthetic data, build the book into _build/html"
	@echo "make test         set up .venv, run ruff, build the book, the whole pytest suite (with the browser test) and nbval"
	@echo "make data         generate the default synthetic dataset into $(DATA)"
	@echo "make assignments  regenerate student/solution notebooks from notebooks/assignments/source"
	@echo "make notebooks    execute the teaching notebooks in place (commits their outputs)"
	@echo "make bench        run the loader and learning benchmarks (prints tables)"

$(STAMP): requirements/cpu-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/cpu-lock.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

SAMPLES := data/samples/bikes.mp4

$(DATA)/splits/classInd.txt: | $(STAMP)
	$(PY) -m pacelib synth --out $(DATA) --seed 0

$(SAMPLES): | $(STAMP)
	$(PY) -m data_scripts.sample_videos

data: $(STAMP) $(DATA)/splits/classInd.txt $(SAMPLES)

# `unar` extracts the official .rar archives (and runs the .rar tests); `chromium` runs the book in
# a real browser (tests/test_browser.py drives it over the DevTools protocol, so no chromedriver).
# Installed when we can; otherwise those tests skip and say why.
sysdeps:
	@command -v unar >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq unar >/dev/null) \
	  || echo "note: unar not installed (apt-get install unar); .rar tests will be skipped"; }
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: chromium not installed (apt-get install chromium); browser tests will be skipped"; }

# MathJax is committed (book/_static/mathjax, 1.7 MB) so that the book shows its formulas offline
# without a CDN and `make book` needs no npm. `make mathjax` refreshes that copy from the npm
# registry: the pinned version, checked against its registry checksum, with its licence.
MATHJAX_VERSION := 3.2.2
MATHJAX_SHA1 := c754d7b46a679d7f3fa03543d6b8bf124ddf9f6b
MATHJAX_DIR := book/_static/mathjax

mathjax:
	@command -v npm >/dev/null || { echo "error: make mathjax needs npm (e.g. apt-get install npm)" >&2; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
	  && (cd "$$tmp" && npm pack -q mathjax@$(MATHJAX_VERSION) >/dev/null) \
	  && echo "$(MATHJAX_SHA1)  $$tmp/mathjax-$(MATHJAX_VERSION).tgz" | sha1sum -c --quiet - \
	  && tar -xzf "$$tmp/mathjax-$(MATHJAX_VERSION).tgz" -C "$$tmp" \
	  && rm -rf $(MATHJAX_DIR) && mkdir -p $(MATHJAX_DIR)/output/chtml/fonts \
	  && cp "$$tmp/package/LICENSE" "$$tmp/package/es5/tex-chtml-full.js" $(MATHJAX_DIR)/ \
	  && cp -r "$$tmp/package/es5/output/chtml/fonts/woff-v2" $(MATHJAX_DIR)/output/chtml/fonts/ \
	  && echo "MathJax $(MATHJAX_VERSION) in $(MATHJAX_DIR)"

book: $(STAMP) data
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "Open _build/html/index.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Unit tests first, then every teaching notebook under nbval in lax mode: every cell must run
# without error (the notebooks check their claims with assert cells), and only the deterministic
# cells marked `# NBVAL_CHECK_OUTPUT` have their outputs compared. They run in order, so
# notebook 04 reuses notebook 03's checkpoint; all seven took 14 min 45 s under nbval on 2 idle CPU cores.
NBVAL_NOTEBOOKS := $(sort $(wildcard notebooks/0*.ipynb))
NBVAL := $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env $(NBVAL_NOTEBOOKS)

# The book is built first: tests/test_browser.py opens _build/html in headless Chromium.
test: $(STAMP) data sysdeps lint book
	$(PY) -m pytest -q tests
	$(NBVAL)

test-notebooks: $(STAMP) data
	$(NBVAL)

notebooks: $(STAMP) data
	cd notebooks && for nb in 0*.ipynb; do ../$(VENV)/bin/jupyter-execute --inplace --timeout=1800 $$nb || exit 1; done

assignments: $(STAMP)
	$(PY) -m tools.assignments notebooks/assignments

check-assignments: $(STAMP)
	$(PY) -m tools.assignments notebooks/assignments --check

bench: $(STAMP) data
	$(PY) -m benchmarks.loader
	$(PY) -m benchmarks.learning

clean:
	rm -rf _build .pytest_cache .ruff_cache
