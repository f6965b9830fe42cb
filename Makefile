# Set-up is part of every target: `make demo` and `make test` each create .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-deps clean

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

test: $(STAMP) test-deps
	$(PY) -m pytest -q -n 2

# Headless Chromium renders the benchmark report in tests/test_report.py: Debian's package,
# installed once when missing and apt-get is there (the browser test skips, saying why, otherwise).
test-deps:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (Debian) for the report's browser test"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
		  { apt-get update -qq >/dev/null 2>&1 && \
		    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; } || \
		echo "could not install chromium: the report's browser test will be skipped"; \
	fi

clean:
	rm -rf $(VENV) demo_out
