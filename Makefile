# The README's two commands: `make serve` and `make test`. Both install what is missing first,
# so they work on a fresh machine. CI (.ci/run) calls `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
STAMP := .installed

.PHONY: serve test bench install lint

serve: install
	$(PYTHON) -m app serve

test: install lint
	$(PYTHON) -m pytest -q

bench: install
	$(PYTHON) -m app bench

# mypy cannot follow setuptools' editable-install hook that maps the import name gatescope to
# app/, so it reads the package through a throwaway symlink of that name.
lint: install
	$(PYTHON) -m ruff check app tests
	$(PYTHON) -m ruff format --check app tests
	d=$$(mktemp -d) && ln -s "$(CURDIR)/app" "$$d/gatescope" && MYPYPATH="$$d" $(PYTHON) -m mypy -p gatescope; \
	status=$$?; rm -rf "$$d"; exit $$status

install: $(STAMP)

# CPU torch first: with 2.13.0 installed the project's "torch>=2.4" is satisfied and pip does not
# reach for the CUDA build. Chromium comes from Debian (Playwright's own browser download cannot
# work on this network); the browser tests drive it through executable_path.
$(STAMP): pyproject.toml
	$(PIP) install --quiet --disable-pip-version-check torch==2.13.0
	$(PIP) install --quiet --disable-pip-version-check -e ".[test]"
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	touch $(STAMP)
