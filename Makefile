# The verbs users type. Every target installs what it needs on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export NODE_NO_WARNINGS := 1
BODY ?= {"amount": 42.5, "currency": "EUR", "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "iban": "GB82WEST12345698765432"}}

.PHONY: help install up down status console deploy send replay logs test test-unit test-integration test-container demo bench synth clean chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The AWS SDK for JavaScript v3 the local cloud's Node.js Lambda runtime provides (pinned).
NODE_SDK := localcloud/services/awslambda/node_sdk
$(NODE_SDK)/node_modules/.installed: $(NODE_SDK)/package.json $(NODE_SDK)/package-lock.json
	cd $(NODE_SDK) && npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
	@touch $@

install: $(VENV)/.installed node_modules/.installed $(NODE_SDK)/node_modules/.installed ## create .venv and node_modules (pinned)

# The container when a Docker engine answers, else a host process; LOCALCLOUD_CONTAINER=1
# or =0 decides instead.
USE_CONTAINER = { [ "$$LOCALCLOUD_CONTAINER" = 1 ] || { [ "$$LOCALCLOUD_CONTAINER" != 0 ] && docker info >/dev/null 2>&1; }; }

up: $(VENV)/.installed $(NODE_SDK)/node_modules/.installed ## start the local cloud on 127.0.0.1:4566; returns once healthy
	@if $(USE_CONTAINER); then $(PY) -m ops.container up; else $(PY) -m localcloud up; fi

down: ## stop the local cloud (only what this project started)
	@if [ -x $(PY) ] && $(USE_CONTAINER); then $(PY) -m ops.container down; fi
	@if [ -x $(PY) ]; then $(PY) -m localcloud down; else echo "local cloud not running (nothing installed yet)"; fi

status: $(VENV)/.installed ## show the local cloud's health and extensions
	@$(PY) -m localcloud status

console: $(VENV)/.installed ## print the local console's URL (with this start's token)
	@$(PY) -m localcloud console

deploy: install ## bootstrap every account/region and deploy all stacks with cdklocal
	$(PY) -m ops.deploy_local

send: $(VENV)/.installed ## send one transaction (BODY='...') and follow it through every hop
	@$(PY) -m ops.send --body '$(BODY)'

replay: $(VENV)/.installed ## replay archived transactions (FROM=/TO= ISO times, default: last hour)
	@$(PY) -m ops.replay $(if $(FROM),--from '$(FROM)') $(if $(TO),--to '$(TO)')

logs: $(VENV)/.installed ## tail the workflow Lambda's log (Ctrl-C to stop)
	@$(PY) -m ops.logs

test: install chromium ## unit, local-cloud, parity and integration tests (brings the local cloud up and deploys if needed)
	$(PY) -m pytest tests/unit tests/localcloud tests/parity tests/integration

# The console's browser tests drive Debian's Chromium (never a downloaded browser build).
chromium: ## install Debian's chromium for the console's browser tests (as root; else they skip and say how)
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the console's browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null \
			|| echo "apt-get install chromium failed: the console's browser tests will skip"; \
	else echo "no /usr/bin/chromium: the console's browser tests will skip (install it: sudo apt-get install chromium)"; fi

test-unit: install ## unit tests only (no local cloud)
	$(PY) -m pytest tests/unit

test-integration: install ## integration tests against AWS_ENDPOINT_URL or the local cloud
	$(PY) -m pytest tests/integration

test-container: install ## the image's own tests, then the integration tests against it (needs a Docker engine)
	LOCALCLOUD_CONTAINER=1 $(PY) -m pytest tests/container tests/integration

demo: install ## install, start the local cloud, deploy, and send a transaction through every hop
	@$(MAKE) --no-print-directory up
	@$(MAKE) --no-print-directory deploy
	@$(MAKE) --no-print-directory send

bench: install ## benchmark the local pipeline; writes .bench/latest.json
	$(PY) -m ops.bench

synth: install ## synthesize the CloudFormation templates into cdk.out
	$(CDK) synth --quiet

clean: down ## stop the local cloud and remove build output and local state
	rm -rf cdk.out .build .localcloud .bench
