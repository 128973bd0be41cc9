# The two commands of the README are `make demo` and `make test`; everything else here
# is what they need. Each installs its own prerequisites on a fresh Debian 12 (as root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages: building pyscard, the PC/SC stack with the virtual reader driver, the
# tools used as a second opinion on the card and on certificates, and the browser (with
# its WebDriver) the page tests drive; SoftHSM2, the embedded and test HSM; espeak-ng, which
# speaks a 12333 phone-menu prompt to WAV in a test.
APT_PACKAGES := python3-venv python3-dev swig gcc libpcsclite-dev pcscd vsmartcard-vpcd \
                pcsc-tools opensc openssl fonts-wqy-zenhei fonts-hanazono poppler-utils \
                chromium chromium-driver softhsm2 espeak-ng
EXTRAS := postgres,agent,hsm,dev

.PHONY: demo test lint system-packages venv clean

demo: venv
	$(BIN)/xnb demo

test: venv lint
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
