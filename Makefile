# CrashLens: `make run` and `make test` work on a fresh machine with Python 3.11, pip and git.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKSPACE ?= data/workspace
PORT ?= 8501

.PHONY: run test setup demo bench browser-deps test-deps clean help

help:
	@echo "make run    set up, build the demo workspace if missing, start the app on 127.0.0.1:$(PORT)"
	@echo "make test   set up, type-check crashlens_core (mypy) while the whole test suite runs (browser test included; two xdist workers by default; TEST_WORKERS=0: one process)"
	@echo "make bench  run every benchmark in bench/ (needs ../shared/data)"

# torch first, pinned to the local CPU build: a bare `torch` (pulled in by
# sentence-transformers) would download several GB of CUDA wheels.
$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	@test -f $(WORKSPACE)/crashlens.duckdb || $(BIN)/crashlens --workspace $(WORKSPACE) demo

run: demo
	CRASHLENS_HOME=$(WORKSPACE) $(BIN)/streamlit run launch.py --server.address 127.0.0.1 --server.port $(PORT)

# The real-browser test needs Debian's chromium; install it when missing (CI runs as root).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

# Tests start real servers on loopback ports: Debian's Alertmanager (alert webhooks), prometheus with
# promtool and clickhouse-server (pull connectors). Install them when missing, as chromium is; the
# system services the packages enable (listening on all interfaces) are stopped and disabled at once.
test-deps: browser-deps
	@{ test -x /usr/bin/prometheus-alertmanager && command -v promtool >/dev/null 2>&1 && \
	   { command -v clickhouse-server >/dev/null 2>&1 || test -x /usr/sbin/clickhouse-server; }; } || { \
	  if [ "$$(id -u)" = "0" ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq prometheus-alertmanager prometheus clickhouse-server >/dev/null && \
	  { $$SUDO systemctl disable --now prometheus-alertmanager prometheus clickhouse-server >/dev/null 2>&1 || true; }; }

# mypy runs beside pytest (its output is shown after pytest's); the target fails when either fails.
# TEST_WORKERS=2 runs pytest on two xdist workers, one test file each at a time (module fixtures
# built once; the demo workspace is built once per run and shared, see tests/conftest.py).
# Two workers is the default on this 2-core machine: the whole suite took 13:10 on two workers
# against 19:43 in one process, both beside other work (load average ~5), with every test passing.
# TEST_WORKERS=0 runs it in one process (e.g. to read one test's output in order).
TEST_WORKERS ?= 2
test: $(STAMP) test-deps
	@log=$$(mktemp); $(BIN)/python -m mypy >$$log 2>&1 & mypy_pid=$$!; \
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile; pytest_rc=$$?; \
	wait $$mypy_pid; mypy_rc=$$?; echo "== mypy (exit $$mypy_rc)"; cat $$log; rm -f $$log; \
	echo "== pytest exit $$pytest_rc, mypy exit $$mypy_rc"; test $$pytest_rc -eq 0 && test $$mypy_rc -eq 0

bench: $(STAMP)
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(WORKSPACE) .pytest_cache
