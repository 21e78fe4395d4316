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

.PHONY: demo run dev test check lint typecheck templates build pytest bench deploy manifest clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# The prompt travels in the environment, so neither make nor the shell reads it: quotes, ;, *, $
# and <!channel> arrive as typed. `make demo PROMPT="a tiger --ar 16:9"`.
demo: export IMAGINE_DEMO_PROMPT = $(value PROMPT)
demo: $(STAMP)
	$(BIN)/imagine-bot demo "$$IMAGINE_DEMO_PROMPT"

# `make run PORT=8080` serves on another port than 3000 (imagine-bot run reads PORT too).
run: export PORT := $(value PORT)
run: $(STAMP)
	$(BIN)/imagine-bot run

# Your own Slack workspace over Socket Mode: SLACK_APP_TOKEN and SLACK_BOT_TOKEN from the
# environment or a git-ignored .env (README: "Try it in your workspace").
dev: export PORT := $(value PORT)
dev: $(STAMP)
	$(BIN)/imagine-bot dev

# The tools install side by side (the project's virtualenv, the SAM CLI's, checkov's, Chromium),
# then the checks run one after another.
test:
	@$(MAKE) --no-print-directory -j4 $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) $(CHROMIUM)
	@$(MAKE) --no-print-directory lint typecheck templates pytest

# The suite on every core and one more: its tests wait on local servers about a quarter of the
# time, so a third worker on two cores kept them busy (78 s against 89 s for `make check`).
# worksteal hands a slow test's neighbours to an idle worker.
PYTEST_WORKERS := -n $(shell echo $$(( $$(nproc) + 1 ))) --dist worksteal

# While working: lint, types and the tests that start no process or browser.
check: lint typecheck
	$(BIN)/pytest $(PYTEST_WORKERS) -m "not spawns"

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench infra
	$(BIN)/ruff format --check bot tests bench infra
	$(BIN)/lint-imports

typecheck: $(STAMP)
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
# the asynchronous backend with its auto scaling, and Bedrock's grant.
TEMPLATE_VARIANTS := "ImageBackend=sagemaker-async AsyncAutoScaling=on" "ImageBackend=bedrock"

templates: $(STAMP) $(CHECKOV_STAMP) $(SAM_STAMP)
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
pytest: $(STAMP) $(CHROMIUM) $(SAM_STAMP)
	CHROMIUM=$(CHROMIUM) SAM_CLI=$(abspath $(SAM)) $(BIN)/pytest $(PYTEST_WORKERS)

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

$(SAM_STAMP):
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_VERSION)
	@rm -f $(SAM_VENV)/.installed-* && touch $@

# Deployment. The build runs infra/Makefile, which needs neither Docker nor a local python3.12.
build: $(SAM_STAMP)
	BUILD_PYTHON="$(abspath $(SAM_VENV))/bin/python" $(SAM) build --template-file infra/template.yaml

deploy: build
	@if [ -f samconfig.toml ]; then $(SAM) deploy; else $(SAM) deploy --guided --stack-name $(STACK); fi

manifest: $(STAMP)
	$(BIN)/imagine-bot manifest --stack $(STACK)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam imagine-out .mypy_cache .ruff_cache
