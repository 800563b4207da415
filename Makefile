# The only commands a newcomer needs. Each target builds the virtual environment first when it
# is missing (or when pyproject.toml changed), so `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEPS   := $(VENV)/.deps
STAMP  := $(VENV)/.installed
COLD_LOG := $(VENV)/cold-start-tests.log
# `make test TESTS=tests/unit/core`: the suite's part in these paths (the cold-start tests
# always run); empty: the whole suite
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

# the packages; $(STAMP) adds numba's cache filled by `orderflow warmup`
$(DEPS): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(DEPS)

$(STAMP): $(DEPS)
	@echo "compiling the kernels into numba's cache (once; orderflow serve then starts warm)"
	@$(BIN)/orderflow warmup
	@touch $(STAMP)

setup: $(STAMP)

# after changing a jitted kernel: compile again now rather than at the next start
warmup: $(STAMP)
	@$(BIN)/orderflow warmup

run: $(STAMP)
	@$(BIN)/orderflow run $(DATA) $(if $(SPEED),--speed $(SPEED)) $(if $(filter 1 yes true,$(HOLD)),--hold)

# The cold-start tests (marker `cold`: an empty numba cache of their own, one core for a minute
# or two) run beside the warm-up, which needs one core too; the rest of the suite runs after
# the warm-up, on the filled cache. Their output follows the suite's; either failing fails
# (none marked `cold`, pytest's exit code 5, is no failure).
# tests/conftest.py hands the two workers the longest test files first (tests/durations.json).
# The cold run collects only the files that mark a test `cold` (collecting the whole suite cost
# that core 12 s of CPU beside the warm-up); none found, it collects them all.
COLD_FILES = $(shell grep -rl --include='*.py' 'mark\.cold' tests 2>/dev/null)
test: $(DEPS)
	@$(BIN)/python -m pytest -q -p no:cacheprovider -m cold $(COLD_FILES) >$(COLD_LOG) 2>&1 & cold=$$!; \
	trap 'kill $$cold 2>/dev/null' INT TERM; \
	$(MAKE) --no-print-directory $(STAMP) && $(BIN)/python -m pytest -n 2 -q -m "not cold" $(TESTS); \
	rc=$$?; wait $$cold; crc=$$?; test $$crc -ne 5 || crc=0; \
	echo "cold-start tests (run beside the warm-up):"; cat $(COLD_LOG); \
	test $$rc -eq 0 && test $$crc -eq 0

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
