# The few verbs a newcomer needs. Every target creates the virtualenv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run serve test check template bench format clean package package-check deploy destroy admin-key

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# The whole service on an embedded AWS: API on 127.0.0.1:8000 (STRATA_PORT), state in .strata/.
run: $(STAMP)
	$(BIN)/strata serve $(ARGS)

serve: run

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

check: $(STAMP) template
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/cfn-lint build/template-dev/sam.json build/template-prod/sam.json

# Each stage's merged SAM template without its dependencies layer (offline, seconds): what
# `make check` lints. infra/sam.py says how it matches `make package`'s.
template: $(STAMP)
	$(BIN)/python -m infra.sam --stage dev
	$(BIN)/python -m infra.sam --stage prod

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/index_bench.py
	$(BIN)/python bench/local_stack_bench.py
	$(BIN)/python bench/parse_bench.py
	$(BIN)/python bench/commit_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# --- Deploy to AWS (README "Deploy to AWS") ---------------------------------------------
# build/$(STAGE)/: sam.json, deployment.zip, layer-deployment.zip, built on the Lambda
# runtime's Python (python3.13; pyenv's or LAMBDA_PYTHON). Needs PyPI the first time.
STAGE ?= dev
STACK ?= strata-$(STAGE)
AWS ?= aws
ALARM_EMAIL ?=
# Where `aws cloudformation package` uploads the zips and the template (made if missing).
ARTIFACT_BUCKET ?=

package: $(STAMP)
	$(BIN)/python -m infra.package --stage $(STAGE)

# The built package, imported under python3.13 with nothing but its zips on sys.path (not
# part of `make test`: it needs the package, hence PyPI).
package-check: package
	STRATA_PACKAGE_STAGE=$(STAGE) $(BIN)/python -m pytest -q tests/integration/built_package_check.py

deploy: package
	@set -eu; \
	account=$$($(AWS) sts get-caller-identity --query Account --output text); \
	region=$$($(AWS) configure get region || true); region=$${AWS_REGION:-$${AWS_DEFAULT_REGION:-$$region}}; \
	test -n "$$region" || { echo "deploy: set AWS_REGION (or aws configure set region)"; exit 1; }; \
	bucket="$(ARTIFACT_BUCKET)"; bucket=$${bucket:-strata-artifacts-$$account-$$region}; \
	$(AWS) s3api head-bucket --bucket "$$bucket" 2>/dev/null || \
	  $(AWS) s3 mb "s3://$$bucket" --region "$$region"; \
	$(AWS) cloudformation package --region "$$region" --use-json \
	  --template-file build/$(STAGE)/sam.json --s3-bucket "$$bucket" --s3-prefix $(STACK) \
	  --output-template-file build/$(STAGE)/packaged.json; \
	$(AWS) cloudformation deploy --region "$$region" --stack-name $(STACK) \
	  --template-file build/$(STAGE)/packaged.json --s3-bucket "$$bucket" --s3-prefix $(STACK) \
	  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
	  --parameter-overrides AlarmEmail="$(ALARM_EMAIL)"; \
	$(AWS) cloudformation describe-stacks --region "$$region" --stack-name $(STACK) \
	  --query "Stacks[0].Outputs" --output table

# The first admin API key of a deployed stage, made with your AWS credentials straight in the
# stage's keys table (HMAC'd with its pepper secret), as the local stack makes its own. Shown
# once; every later key can be made through the API (`strata keys create`).
admin-key: $(STAMP)
	@set -eu; \
	bucket=$$($(AWS) cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='IndexBucketName'].OutputValue" --output text); \
	STRATA_RESOURCE_PREFIX=strata-$(STAGE) STRATA_BUCKET="$$bucket" STRATA_EMBEDDER=none \
	  $(BIN)/python -c "from chalicelib import bootstrap; \
	print(bootstrap.key_admin().create_admin(name='$(or $(NAME),first admin)', by='make admin-key'))"

# Deletes the stack. A stage in deploy.json's retain_data_in_stages (prod) keeps its tables,
# bucket, KMS key and secrets; any other stage's bucket is emptied first (CloudFormation
# cannot delete a bucket with objects in it).
destroy: $(STAMP)
	@set -eu; \
	retain=$$($(BIN)/python -c "from infra.plan import plan_stage; print(int(plan_stage('$(STAGE)').retain_data))"); \
	bucket=$$($(AWS) cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='IndexBucketName'].OutputValue" --output text); \
	if [ "$$retain" = 0 ] && [ -n "$$bucket" ] && [ "$$bucket" != None ]; then \
	  $(AWS) s3 rm "s3://$$bucket" --recursive --quiet; fi; \
	$(AWS) cloudformation delete-stack --stack-name $(STACK); \
	$(AWS) cloudformation wait stack-delete-complete --stack-name $(STACK); \
	echo "deleted $(STACK)"; [ "$$retain" = 0 ] || echo "kept its data (retain_data_in_stages)"

# The OpenAPI 3.1 document built from the API's models (tests/unit/test_openapi.py keeps it current).
.PHONY: openapi
openapi: $(STAMP)
	$(BIN)/python -c 'import sys, app; from chalicelib.api import openapi, wire; sys.stdout.write(openapi.render(wire.ROUTES))' > docs/openapi.json.tmp
	mv docs/openapi.json.tmp docs/openapi.json
