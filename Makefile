# ProductLens: `make demo` runs the app on the shipped sample, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: install demo data test test-slow lint format bench bench-quick screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

OFFLINE_CLIP := $(CURDIR)/data/models/offline-clip
SHARED := $(CURDIR)/../shared/data
# Labelled photo sets (not ours to ship) when the shared data sits beside us.
export PRODUCTLENS_OFFICE_ITEMS ?= $(wildcard $(SHARED)/office_items)
PC_PARTS ?= $(wildcard $(SHARED)/pc_parts)
PL := $(BIN)/productlens
# The pc-parts fine-tune, chosen on pc_parts' validation part (README, "Fine-tuning"): the
# trunk's first six blocks frozen (their outputs come from the activation cache), its last
# block, head convolution and the concept head trained for 8 epochs.
PC_PARTS_RECIPE ?= --freeze-text --freeze-vision 6 --cached-views 1 --epochs 8 --lr 3e-4

# Ingest, pseudo-label + embed the offline sample; register the labelled photo sets; without
# a reachable pretrained CLIP, build the offline CLIP (cached) and fine-tune it once: on
# pc_parts when it is there (the Model comparison page opens on that pair), else head-only
# on the sample's pseudo-labels, and embed the sample's photos with the fine-tune too (the
# Embedding map sets the two side by side). Re-runs do only what is missing.
data: install
	@# UMAP's kernels compile in the background meanwhile (once per machine): the default
	@# map `embed` draws then takes seconds, not a minute.
	@mkdir -p data && ($(BIN)/python -m core.analysis.projection > data/umap-kernels.log 2>&1 &)
	$(PL) ingest data/sample --catalog sample
	$(PL) label --catalog sample
	$(PL) offline-clip --if-needed
	$(PL) embed --catalog sample
	@if [ -n "$(PRODUCTLENS_OFFICE_ITEMS)" ]; then \
	  $(PL) dataset add office-items $(PRODUCTLENS_OFFICE_ITEMS); \
	else echo "skipped: no office_items photos at $(SHARED)/office_items"; fi
	@if [ -n "$(PC_PARTS)" ]; then \
	  $(PL) dataset add pc-parts $(PC_PARTS) --words-file data/datasets/pc-parts.json; \
	else echo "skipped: no pc_parts photos at $(SHARED)/pc_parts (no pc-parts fine-tune)"; fi
	@if [ ! -f $(OFFLINE_CLIP)/open_clip_config.json ]; then \
	  echo "skipped: fine-tuning (a pretrained CLIP is in use; fine-tune it with productlens finetune)"; \
	elif [ -n "$(PC_PARTS)" ]; then \
	  $(PL) finetune --if-missing --name pc-parts --clip $(OFFLINE_CLIP) --dataset pc-parts \
	    $(PC_PARTS_RECIPE) && \
	  $(PL) compare --dataset pc-parts && \
	  $(PL) embed --catalog sample --what image --clip run:pc-parts; \
	else \
	  $(PL) finetune --if-missing --name sample-labels --clip $(OFFLINE_CLIP) \
	    --catalog sample --labeller local:rules+minilm-v2 --pair-text label --freeze-text \
	    --freeze-vision 8 --cached-views 1 --epochs 10 --lr 1e-3 && \
	  $(PL) embed --catalog sample --what image --clip run:sample-labels; \
	fi

demo: data
	$(BIN)/streamlit run streamlit_app.py --server.port $(PORT)

test: install
	$(BIN)/python -m pytest

# The README's screenshots of every page at 1400 and 800 px (docs/screenshots/), in Chromium.
screenshots: data
	PYTHONPATH=. $(BIN)/python -m bench.screenshots

# The slow tests (the full offline CLIP build); `make test` runs their short twins.
test-slow: install
	$(BIN)/python -m pytest -m slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks (speed, memory, scale, ChromaDB side by side) → bench/results/bench.{json,md}
bench: data
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench

bench-quick: data
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench --quick

clean:
	rm -rf data/lancedb data/cache .pytest_cache
