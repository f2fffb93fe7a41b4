# Entry points shared by people and CI. `make demo` and `make test` are all a fresh
# machine needs (Python 3.11 + Debian); both create or refresh the virtualenv at .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GENERATED := recsvc/api/v1/recommender_pb2.py generation/v1/payloads_pb2.py
NODE_DIR := .cache/node
NODE_MODULES := $(NODE_DIR)/node_modules
DYNALITE := $(NODE_MODULES)/.bin/dynalite
# dynalite rejects requests real DynamoDB rejects (moto accepts some); the store tests use
# both. @grpc/grpc-js and @grpc/proto-loader: the Node BFF client of tests/clients.
NODE_PACKAGES := dynalite@4.0.0 @grpc/grpc-js@1.14.7 @grpc/proto-loader@0.8.1
# Named after the pinned list, so changing a version reinstalls.
NODE_STAMP := $(NODE_DIR)/.installed-$(shell echo '$(NODE_PACKAGES)' | cksum | cut -d' ' -f1)

# The console's chart.js and htmx (pinned in the script), copied into the package.
CONSOLE_ASSETS := recsvc/console/static/vendor/VERSIONS

.PHONY: demo serve test protos venv lint wheel clean evaluate console-screenshots

venv: $(STAMP) $(GENERATED) $(CONSOLE_ASSETS)

$(CONSOLE_ASSETS): scripts/console_assets.sh
	sh scripts/console_assets.sh $(NODE_DIR)/console

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(GENERATED): $(PROTOS) scripts/gen_protos.py $(STAMP)
	$(BIN)/python scripts/gen_protos.py

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

$(NODE_STAMP):
	mkdir -p $(NODE_DIR)
	npm install --prefix $(NODE_DIR) --no-audit --no-fund --silent --save-exact $(NODE_PACKAGES)
	touch $@

demo: venv
	$(BIN)/python -m scripts.demo

serve: venv
	$(BIN)/python -m scripts.demo --serve

test: venv $(NODE_STAMP)
	DYNALITE_BIN=$(abspath $(DYNALITE)) TEST_NODE_MODULES=$(abspath $(NODE_MODULES)) \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

# The README's console screenshots (docs/console/*.png) from a real run; needs Debian's chromium.
console-screenshots: venv
	$(BIN)/python -m scripts.console_screenshots --out docs/console

# The wheel EMR's bootstrap installs (carries the generated gRPC code).
wheel: venv
	$(BIN)/python -m pip wheel --no-deps --no-build-isolation -q -w dist .
	@ls dist/*.whl

# Offline quality on real data (not shipped): import UCI Online Retail and the Taobao slice,
# then the EVALUATION.md protocol on each (model choice, baselines, groups); the tables are
# printed and left in build/evaluate/ (index.html: one row a dataset).
SHARED_DATA ?= ../shared/data
EVAL_DIR := build/evaluate
OR_CSV := $(SHARED_DATA)/online-retail/online_retail.csv.gz
TAOBAO_CSV := $(SHARED_DATA)/taobao-userbehavior-sample/UserBehavior.csv
evaluate: venv
	test -f $(OR_CSV) || { echo "$(OR_CSV) not found (set SHARED_DATA)"; exit 1; }
	test -f $(TAOBAO_CSV) || { echo "$(TAOBAO_CSV) not found (set SHARED_DATA)"; exit 1; }
	rm -rf $(EVAL_DIR)/online-retail $(EVAL_DIR)/taobao
	$(BIN)/profile-engine import-online-retail $(OR_CSV) --events $(EVAL_DIR)/online-retail/events \
		--replica-url sqlite:///$(EVAL_DIR)/online-retail/shop.db
	$(BIN)/profile-engine evaluate --events $(EVAL_DIR)/online-retail/events \
		--replica-url sqlite:///$(EVAL_DIR)/online-retail/shop.db \
		--json $(EVAL_DIR)/online-retail.json --html $(EVAL_DIR)/online-retail.html
	$(BIN)/profile-engine import-taobao $(TAOBAO_CSV) --events $(EVAL_DIR)/taobao/events \
		--replica-url sqlite:///$(EVAL_DIR)/taobao/shop.db
	$(BIN)/profile-engine evaluate --events $(EVAL_DIR)/taobao/events \
		--replica-url sqlite:///$(EVAL_DIR)/taobao/shop.db \
		--json $(EVAL_DIR)/taobao.json --html $(EVAL_DIR)/taobao.html
	$(BIN)/profile-engine evaluate-summary $(EVAL_DIR)/online-retail.json $(EVAL_DIR)/taobao.json \
		--html $(EVAL_DIR)/index.html

lint: venv
	$(BIN)/python -m ruff check generation clickstream segment_export recsvc profile_engine tests scripts bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) recsvc/api generation/v1 .cache build dist *.egg-info recsvc/console/static/vendor
