# The only commands a newcomer needs. Each target builds the virtual environment first when it
# is missing (or when pyproject.toml changed), so `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?=
SPEED  ?=

.PHONY: run test bench lint setup warmup clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev]"
	@echo "compiling the kernels into numba's cache (once; orderflow serve then starts warm)"
	@$(BIN)/orderflow warmup
	@touch $(STAMP)

setup: $(STAMP)

# after changing a jitted kernel: compile again now rather than at the next start
warmup: $(STAMP)
	@$(BIN)/orderflow warmup

run: $(STAMP)
	@$(BIN)/orderflow run $(DATA) $(if $(SPEED),--speed $(SPEED))

test: $(STAMP)
	@$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	@$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	@$(BIN)/ruff format --check src tests benchmarks scripts
	@$(BIN)/ruff check src tests benchmarks scripts
	@$(BIN)/mypy
	@$(BIN)/lint-imports
	@$(BIN)/python scripts/check_import_cycles.py orderflow

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
