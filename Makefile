# Set-up is part of every target: `make demo` and `make test` each create .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

install: $(STAMP)

# torch is pinned exactly: this machine has the CPU wheel of 2.13.0 on disk; a looser range
# would pull a multi-GB CUDA build. fastmri 0.3.0 is installed without its heavy dependencies
# (torchvision, old Lightning): the tests only use it as the reference for parity checks.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps fastmri==0.3.0
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/kspacekit demo --output demo_out --overwrite

test: $(STAMP)
	$(PY) -m pytest -q -n 2

clean:
	rm -rf $(VENV) demo_out
