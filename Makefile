# GATE Studio: set-up, run and test commands. See README.md.
# Recipes call .venv/bin/python directly, so no shell activation is needed.

SHELL    := /bin/bash
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.requirements.stamp
PORT     ?= 8501
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: venv bench-venv run test chromium data backbone relational bench clean distclean

venv: $(STAMP)

# Re-run pip only when the venv is missing or requirements.txt is newer than the stamp.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	touch $@

# chemprop v2 for `python -m bench chemprop_compare`, in its own venv (it pins another RDKit than the app).
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.requirements.stamp

bench-venv: $(BENCH_STAMP)

$(BENCH_STAMP): requirements-bench.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -r requirements-bench.txt
	touch $@

run: venv
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT)

# Browser tests need Debian's Chromium; Playwright must not download its own browser.
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends chromium fonts-liberation; \
	else \
		echo "error: $(CHROMIUM) not found. Install it: sudo apt-get install -y chromium fonts-liberation" >&2; \
		exit 1; \
	fi

test: venv chromium
	$(PY) -m pytest $(PYTEST_ARGS)

data: venv
	$(PY) -m gate_core.data.builders

# Rebuild the shipped backbone (≤ 30 min on a 2-core CPU); per-epoch loss log in bench/work/.
backbone: venv
	mkdir -p bench/work
	$(PY) -m gate_core pretrain --config assets/backbone_config.json --out assets/backbone --log bench/work/backbone_train.jsonl

# Train the relational head (known labels → other labels, DESIGN §6) on the backbone's own table (≤ 5 min on a 2-core CPU).
relational: venv
	$(PY) -m gate_core pretrain-relational --backbone assets/backbone --out assets/backbone_relational

# Every benchmark; results land in bench/results/<name>.json and .md.
bench: venv
	$(PY) -m bench all

clean:
	rm -rf test-results .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
