# Entry points shared by people and CI. `make demo` and `make test` are all a fresh
# machine needs (Python 3.11 + Debian); both create or refresh the virtualenv at .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GENERATED := recsvc/api/v1/recommender_pb2.py
NODE_DIR := .cache/node
DYNALITE := $(NODE_DIR)/node_modules/.bin/dynalite

.PHONY: demo serve test protos venv lint wheel clean

venv: $(STAMP) $(GENERATED)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(GENERATED): $(PROTOS) scripts/gen_protos.py $(STAMP)
	$(BIN)/python scripts/gen_protos.py

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

# dynalite rejects requests real DynamoDB rejects (moto accepts some); the store tests use both.
$(DYNALITE):
	mkdir -p $(NODE_DIR)
	npm install --prefix $(NODE_DIR) --no-audit --no-fund --silent dynalite@4.0.0

demo: venv
	$(BIN)/python -m scripts.demo

serve: venv
	$(BIN)/python -m scripts.demo --serve

test: venv $(DYNALITE)
	DYNALITE_BIN=$(abspath $(DYNALITE)) $(BIN)/python -m pytest $(PYTEST_ARGS)

# The wheel EMR's bootstrap installs (carries the generated gRPC code).
wheel: venv
	$(BIN)/python -m pip wheel --no-deps --no-build-isolation -q -w dist .
	@ls dist/*.whl

lint: venv
	$(BIN)/python -m ruff check recsvc profile_engine tests scripts bench

clean:
	rm -rf $(VENV) recsvc/api .cache build dist *.egg-info
