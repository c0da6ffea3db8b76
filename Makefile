# Two commands matter (see README): `make demo` places a whole local call, `make test` runs the tests.
# Both set up what they need first; nothing else has to be installed by hand beyond Python 3.11.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench serve clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# silero-vad declares torch, which we do not use: its ONNX model runs on onnxruntime.
	$(BIN)/pip install --quiet --no-deps 'silero-vad>=6.2'
	# piper-tts is GPL-3.0: it is installed as a separate program and only ever run as a child process.
	$(BIN)/pip install --quiet 'piper-tts>=1.8'
	touch $(STAMP)

demo: setup
	$(BIN)/rtagent call --script tests/scenarios/fnol.yaml --report fnol-report.json --wav fnol-call.wav

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup
	$(BIN)/rtagent bench

serve: setup
	$(BIN)/rtagent serve

clean:
	rm -rf $(VENV) fnol-report.json fnol-call.wav .pytest_cache .ruff_cache
