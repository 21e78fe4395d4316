# The virtualenv lives in .venv; every target installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PROMPT ?=
STACK ?= imagine
# The SAM CLI, pinned, in its own virtualenv (its pins differ from the test tools'): `make test`
# builds and rehearses the deploy with the same one `make deploy` runs.
SAM_VERSION := 1.170.0
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_VERSION)
export SAM_CLI_TELEMETRY := 0

.PHONY: help demo run dev test check lint typecheck templates build pytest bench deploy manifest clean
.DEFAULT_GOAL := help

help: ## this list
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# The prompt travels in the environment, so neither make nor the shell reads it: quotes, ;, *, $
# and <!channel> arrive as typed. `make demo PROMPT="a tiger --ar 16:9"`.
demo: export IMAGINE_DEMO_PROMPT = $(value PROMPT)
demo: $(STAMP) ## one /imagine end to end on the local stack (PROMPT="..." to choose it)
	$(BIN)/imagine-bot demo "$$IMAGINE_DEMO_PROMPT"

# `make run PORT=8080` serves on another port than 3000 (imagine-bot run reads PORT too).
run: export PORT := $(value PORT)
run: $(STAMP) ## serve the bot and the playground on 127.0.0.1:3000 (PORT to change it)
	$(BIN)/imagine-bot run

# Your own Slack workspace over Socket Mode: SLACK_APP_TOKEN and SLACK_BOT_TOKEN from the
# environment or a git-ignored .env (README: "Try it in your workspace").
dev: export PORT := $(value PORT)
dev: $(STAMP) ## the bot in your own Slack workspace over Socket Mode (tokens in .env)
	$(BIN)/imagine-bot dev

# The tools install side by side (the project's virtualenv, the SAM CLI's, checkov's, Chromium),
# then the checks run one after another.
test: ## everything CI runs: lint, types, template checks, sam build, the deploy rehearsal, all tests
	@$(MAKE) --no-print-directory -j4 $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) $(CHROMIUM)
	@$(MAKE) --no-print-directory lint typecheck templates pytest

# The suite on every core and one more: its tests wait on local servers about a quarter of the
# time, so a third worker on two cores kept them busy (78 s against 89 s for `make check`).
# worksteal hands a slow test's neighbours to an idle worker.
PYTEST_WORKERS := -n $(shell echo $$(( $$(nproc) + 1 ))) --dist worksteal

# While working: lint, types and the tests that start no process or browser.
check: lint typecheck ## while working: lint, types and the tests that start no process or browser
	$(BIN)/pytest $(PYTEST_WORKERS) -m "not spawns"

lint: $(STAMP) ## ruff and the package's import contracts (import-linter)
	$(BIN)/ruff check bot tests bench infra
	$(BIN)/ruff format --check bot tests bench infra
	$(BIN)/lint-imports

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy

# The IaC security scan: checkov, pinned, in its own virtualenv (its pins differ from the test
# tools'), offline: --skip-download and BC_SKIP_MAPPING keep it from Prisma Cloud's API,
# CKV_SKIP_PACKAGE_UPDATE_CHECK from PyPI's version check. CKV_PARSE_ERROR_FAIL fails a template
# it cannot read instead of passing it unchecked. Skips live in the template, each with its reason.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
CHECKOV := CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=true CKV_PARSE_ERROR_FAIL=true $(CHECKOV_VENV)/bin/checkov

$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@rm -f $(CHECKOV_VENV)/.installed-* && touch $@

# checkov scans a template as its parameters' defaults make it, so the resources behind a
# condition are scanned again in copies whose defaults turn them on (infra/with_defaults.py):
# the asynchronous backend with its auto scaling, Bedrock's grant, and the image operations' grants.
TEMPLATE_VARIANTS := "ImageBackend=sagemaker-async AsyncAutoScaling=on" "ImageBackend=bedrock" \
  "UpscaleModel=bedrock:us.stability.stable-fast-upscale-v1:0 VaryModel=bedrock:stability.sd3-5-large-v1:0 ZoomModel=sagemaker:sd2-inpainting ChangeModel=bedrock:us.stability.stable-image-search-replace-v1:0"

templates: $(STAMP) $(CHECKOV_STAMP) $(SAM_STAMP) ## sam validate --lint, cfn-lint and checkov on infra/template.yaml
	$(SAM) validate --lint --template-file infra/template.yaml --region us-east-1
	$(BIN)/cfn-lint infra/template.yaml
	$(CHECKOV) --file infra/template.yaml --framework cloudformation secrets --skip-download --compact --quiet
	@variants=$$(mktemp -d) && for defaults in $(TEMPLATE_VARIANTS); do \
	  echo "checkov with $$defaults:"; \
	  $(BIN)/python infra/with_defaults.py $$defaults > $$variants/template.yaml || exit 1; \
	  $(CHECKOV) --file $$variants/template.yaml --framework cloudformation --skip-download --compact --quiet || exit 1; \
	done; rm -rf $$variants

# The playground's browser test drives Debian's Chromium: Playwright's own browser downloads are
# not used (nor reachable on a closed network). Installed once, as root or through sudo.
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	$$sudo apt-get update -qq && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

# tests/infra/test_deploy.py runs the real `sam build` and `sam package` with this SAM CLI.
pytest: $(STAMP) $(CHROMIUM) $(SAM_STAMP) ## the whole test suite
	CHROMIUM=$(CHROMIUM) SAM_CLI=$(abspath $(SAM)) $(BIN)/pytest $(PYTEST_WORKERS)

bench: $(STAMP) ## the benchmarks: figures and ratios against baselines (docs/benchmarks.md)
	$(BIN)/python -m bench.run_all

$(SAM_STAMP):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_VERSION)
	@rm -f $(SAM_VENV)/.installed-* && touch $@

# Deployment. The build runs infra/Makefile, which needs neither Docker nor a local python3.12.
build: $(SAM_STAMP) ## sam build: the Lambda packages, as make deploy builds them
	BUILD_PYTHON="$(abspath $(SAM_VENV))/bin/python" $(SAM) build --template-file infra/template.yaml

deploy: build ## sam build and sam deploy to your AWS account (guided the first time)
	@if [ -f samconfig.toml ]; then $(SAM) deploy; else $(SAM) deploy --guided --stack-name $(STACK); fi

manifest: $(STAMP) ## the Slack app manifest with the stack's request URL (STACK=imagine)
	$(BIN)/imagine-bot manifest --stack $(STACK)

clean: ## remove the virtualenvs, the build and the demo's output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam imagine-out .mypy_cache .ruff_cache
