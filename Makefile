# ProductLens: `make demo` runs the app on the shipped sample, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: install demo data test test-slow lint format bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

OFFLINE_CLIP := $(CURDIR)/data/models/offline-clip
# The class-labelled office photos (not ours to ship) when the shared data sits beside us.
export PRODUCTLENS_OFFICE_ITEMS ?= $(wildcard $(CURDIR)/../shared/data/office_items)

# Ingest, pseudo-label + embed the offline sample (only missing work is done on re-runs).
# Without a reachable pretrained CLIP, the offline CLIP is built first (~2 min, cached),
# and one head-only fine-tuning run of it on the sample's labels (~2 min, once) gives the
# comparison page its pair.
data: install
	$(BIN)/productlens ingest data/sample --catalog sample
	$(BIN)/productlens label --catalog sample
	$(BIN)/productlens offline-clip --if-needed
	$(BIN)/productlens embed --catalog sample
	if [ -f $(OFFLINE_CLIP)/open_clip_config.json ]; then \
	  $(BIN)/productlens finetune --if-missing --name sample-labels --clip $(OFFLINE_CLIP) \
	    --catalog sample --labeller local:rules+minilm-v1 --pair-text label --freeze-text \
	    --freeze-vision 8 --epochs 10 --lr 1e-3; \
	fi

demo: data
	$(BIN)/streamlit run streamlit_app.py --server.port $(PORT)

test: install
	$(BIN)/python -m pytest

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
