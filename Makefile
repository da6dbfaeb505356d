# ProductLens: `make demo` runs the app on the shipped sample, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: install demo data test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Ingest + embed the offline sample (only missing work is done on re-runs).
data: install
	$(BIN)/productlens ingest data/sample --catalog sample
	$(BIN)/productlens embed --catalog sample

demo: data
	$(BIN)/streamlit run streamlit_app.py --server.port $(PORT)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/productlens bench

clean:
	rm -rf data/lancedb data/cache .pytest_cache
