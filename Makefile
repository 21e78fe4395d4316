# The virtualenv lives in .venv; every target installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PROMPT ?=
STACK ?= imagine
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam

.PHONY: demo run test lint typecheck templates pytest bench deploy manifest clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/imagine-bot demo $(PROMPT)

run: $(STAMP)
	$(BIN)/imagine-bot run

test: lint typecheck templates pytest

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

templates: $(STAMP)
	$(BIN)/cfn-lint infra/template.yaml

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

# Deployment: SAM CLI in its own virtualenv (its pins differ from the test tools'). The build
# runs infra/Makefile, which needs neither Docker nor a local python3.12.
$(SAM):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli

deploy: $(SAM)
	$(SAM) build --template-file infra/template.yaml
	@if [ -f samconfig.toml ]; then $(SAM) deploy; else $(SAM) deploy --guided --stack-name $(STACK); fi

manifest: $(STAMP)
	$(BIN)/imagine-bot manifest --stack $(STACK)

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam imagine-out .mypy_cache .ruff_cache
