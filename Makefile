# The only commands a newcomer needs. Each target builds the virtual environment first when it
# is missing (or when pyproject.toml changed), so `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEPS   := $(VENV)/.deps
STAMP  := $(VENV)/.installed
# `make test TESTS=tests/unit/core`: the suite's part in these paths; empty: the whole suite
TESTS  ?=
DATA   ?=
SPEED  ?=
HOLD   ?=
PEERS  ?=
# The peers (nautilus_trader, hftbacktest) live in their own environment, pinned in
# benchmarks/peers/requirements.txt; only bench-peers and `make bench PEERS=1` build it.
PEERS_VENV  := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed
PEERS_ON    := $(filter 1 yes true,$(PEERS))

.PHONY: run test bench bench-peers lint setup warmup clean

# Python writes its bytecode caches (a machine may set PYTHONDONTWRITEBYTECODE): the venv's
# modules are compiled on first import, those the suite and the product load, not all 9,300
unexport PYTHONDONTWRITEBYTECODE

# the packages; $(STAMP) adds numba's cache filled by `orderflow warmup`. uv (from PyPI, into
# the venv) installs the versions pip would, its downloads in parallel (pip fetched one after
# another: docs/performance.md). Should uv not install or not work, pip does it as before.
$(DEPS): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@{ $(BIN)/python -m pip install --quiet uv \
	   && $(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev]"; } \
	|| { echo "uv could not install the packages; pip installs them"; \
	     $(BIN)/python -m pip install --quiet --upgrade pip \
	     && $(BIN)/python -m pip install --quiet -e ".[dev]"; }
	@touch $(DEPS)

# The kernels compiled on both cores, no kernel twice: two processes (the L3 kernels, the
# server's batches | the analytics stage, the replay, the server's sessions), each loading
# from the cache what the other compiled, then `orderflow warmup` in the same command loading
# it all and compiling what is left (orderflow/cli/warmup_jobs.py). A part that fails only
# leaves more to the warm-up proper.
$(STAMP): $(DEPS)
	@echo "compiling the kernels into numba's cache (once; orderflow serve then starts warm)"
	@$(BIN)/python -m orderflow.cli.warmup_jobs
	@touch $(STAMP)

setup: $(STAMP)

# after changing a jitted kernel: compile again now rather than at the next start
warmup: $(STAMP)
	@$(BIN)/orderflow warmup

run: $(STAMP)
	@$(BIN)/orderflow run $(DATA) $(if $(SPEED),--speed $(SPEED)) $(if $(filter 1 yes true,$(HOLD)),--hold)

# The suite after the warm-up, on the filled cache (the cold-start test compiles only the
# kernels it removes from its copy of that cache). tests/conftest.py hands the two workers the
# longest test files first (tests/durations.json).
test: $(STAMP)
	@$(BIN)/python -m pytest -n 2 -q $(TESTS)

bench: $(STAMP) $(if $(PEERS_ON),$(PEERS_STAMP))
	@$(BIN)/python benchmarks/run_all.py $(if $(PEERS_ON),--peers)

$(PEERS_STAMP): benchmarks/peers/requirements.txt
	@test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	@$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	@$(PEERS_VENV)/bin/python -m pip install --quiet --only-binary nautilus_trader,hftbacktest \
		-r benchmarks/peers/requirements.txt
	@touch $(PEERS_STAMP)

# nautilus_trader's and hftbacktest's L3 books beside ours on ESH4 (docs/performance.md)
bench-peers: $(STAMP) $(PEERS_STAMP)
	@$(BIN)/python benchmarks/bench_peers.py

lint: $(STAMP)
	@$(BIN)/ruff format --check src tests benchmarks scripts
	@$(BIN)/ruff check src tests benchmarks scripts
	@$(BIN)/mypy
	@$(BIN)/lint-imports
	@$(BIN)/python scripts/check_import_cycles.py orderflow

clean:
	rm -rf $(VENV) $(PEERS_VENV) .pytest_cache .ruff_cache .mypy_cache
