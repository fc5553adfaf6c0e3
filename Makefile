# Two commands on a fresh machine: `make demo` and `make test`.
# TORCH_SPEC selects the PyTorch build; the default is the CPU build these machines carry on disk.
# A GPU user passes their own, e.g.  make install TORCH_SPEC="torch==2.5.1 --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,synth,plot,export
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest tests || test $$? -eq 5  # 5: no test collected

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash egs/mini/run.sh

lint: install
	$(BIN)/ruff check hent_srt tests scripts local

clean:
	rm -rf $(VENV)
