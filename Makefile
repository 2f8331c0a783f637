# identity-auditor: make demo | make test | make build | make clean
# Every target runs offline against moto with fake credentials; nothing here talks to real AWS.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
# pytest-xdist processes for `make test` (0: in this process, for pdb)
PYTEST_JOBS ?= 2
# checkov pins boto3, pydantic and more: its own virtualenv, like SAM CLI's.
CHECKOV_VENV := .venv-checkov
# `make diagram` (the `diagrams` package) in its own virtualenv as well.
DOCS_VENV := .venv-docs
# What `make security` scans besides template.yaml: the template after the SAM transform.
SAM_TRANSFORMED := .aws-sam/security/template.transformed.json

# Never let a local run find real credentials or probe the network.
OFFLINE_ENV := AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
	AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
	SAM_CLI_TELEMETRY=0 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
# checkov offline: no Prisma Cloud/Bridgecrew policy-metadata download (BC_SKIP_MAPPING, --skip-download in
# .checkov.yaml), no PyPI version check at start-up.
CHECKOV_ENV := BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE

.PHONY: venv sam-venv checkov-venv docs-venv security demo test test-full unit lint validate build bench generate diagram clean

$(VENV)/.installed: requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements/dev.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

$(SAM_VENV)/.installed: requirements/sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements/sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements/checkov.txt
	touch $@

venv: $(VENV)/.installed
sam-venv: $(SAM_VENV)/.installed
checkov-venv: $(CHECKOV_VENV)/.installed
docs-venv: $(DOCS_VENV)/.installed

$(DOCS_VENV)/.installed: requirements/docs.txt
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/pip install --quiet --upgrade pip
	$(DOCS_VENV)/bin/pip install --quiet -r requirements/docs.txt
	touch $@

## diagram: redraw docs/architecture.png from scripts/diagram.py (needs Graphviz: apt-get install graphviz)
diagram: docs-venv
	@command -v dot >/dev/null || { echo "make diagram needs Graphviz's dot: apt-get install graphviz (brew install graphviz)" >&2; exit 2; }
	$(DOCS_VENV)/bin/python scripts/diagram.py

## demo: run the real Lambda handler on every sample in events/ against an emulated account (moto)
demo: venv
	$(OFFLINE_ENV) $(VENV)/bin/python scripts/demo.py

## test: unit, functional, contract, reliability and hostile tests (PYTEST_JOBS processes), then template lint, validate and build
test: venv sam-venv
	$(OFFLINE_ENV) $(VENV)/bin/pytest -q -n $(PYTEST_JOBS)
	$(MAKE) lint security validate build

unit: venv
	$(OFFLINE_ENV) $(VENV)/bin/pytest -q -n $(PYTEST_JOBS)

## test-full: the reliability suites at full size (5,000-finding burst, fault injection, >= 10,000 hostile inputs)
test-full: venv
	$(OFFLINE_ENV) $(VENV)/bin/pytest -q -p no:cacheprovider --full tests/reliability tests/hostile

lint: venv
	$(VENV)/bin/ruff check --select F,E9 layers functions tests scripts
	$(OFFLINE_ENV) $(VENV)/bin/cfn-lint template.yaml forwarder.yaml

## security: checkov on the templates, template.yaml also in its SAM-transformed form (config: .checkov.yaml)
security: checkov-venv sam-venv
	$(OFFLINE_ENV) $(SAM_VENV)/bin/python scripts/sam_transform.py template.yaml -o $(SAM_TRANSFORMED)
	$(OFFLINE_ENV) $(CHECKOV_ENV) $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml \
		--file template.yaml --file $(SAM_TRANSFORMED) --file forwarder.yaml

validate: sam-venv
	$(OFFLINE_ENV) $(SAM_VENV)/bin/sam validate --lint --region us-east-1
	$(OFFLINE_ENV) $(SAM_VENV)/bin/sam validate --lint --region us-east-1 --template forwarder.yaml

## build: sam build without Docker (the layer and function use BuildMethod: makefile)
build: sam-venv
	$(OFFLINE_ENV) PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(SAM_VENV)/bin/sam build --region us-east-1

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(DOCS_VENV) .aws-sam .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

## bench: cold import vs boto3, per-event cost vs the JSON parse floor, the state sweep at 100 and 1,000 users,
## the all-in cost per million admitted events from the log bytes the evaluator writes, the backfill's cost per
## million records (1,000- and 50-record log files) from the template's settings
bench: venv
	$(OFFLINE_ENV) $(VENV)/bin/python scripts/bench.py
	$(OFFLINE_ENV) $(VENV)/bin/python scripts/bench_sweep.py 100 1000
	$(OFFLINE_ENV) $(VENV)/bin/python scripts/bench_logs.py
	$(OFFLINE_ENV) $(VENV)/bin/python scripts/bench_cost.py 1000 50

## generate: rewrite every file derived from the rule registry (template.yaml's and forwarder.yaml's generated
## blocks, README.md's rule table, policy.schema.json); `make generate CHECK=1` only checks: it names each
## stale file with a diff and exits 1
generate: venv
	$(VENV)/bin/python -m identity_auditor.deploy.generate $(if $(filter-out 0 no false,$(CHECK)),--check)
