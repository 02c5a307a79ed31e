# evedge: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 8000
DATA   ?= var

.PHONY: run test test-postgres bench build deb clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

# Re-install whenever the package metadata changes.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

venv: $(VENV)/.installed

run: venv
	@mkdir -p $(DATA)
	$(BIN)/evedge serve --port $(PORT) --data-dir $(DATA)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite on a throwaway PostgreSQL server (needs its binaries: apt-get install postgresql).
# Left out: what does not depend on the database (the browser tests, which drive the same
# API; the binary, the installer and the package), to keep CI short.
NOT_DATABASE = --ignore-glob='tests/test_dashboard_*.py' --ignore=tests/test_rehearsal_ui.py \
	--ignore=tests/test_ftp_dashboard.py --ignore=tests/test_frozen.py \
	--ignore=tests/test_install.py --ignore=tests/test_debian_package.py \
	--ignore=tests/test_unit_hardening.py
test-postgres: venv
	$(BIN)/pip install --quiet -e '.[test,bench,postgres]'
	tests/with_postgres.sh $(BIN)/python -m pytest $(NOT_DATABASE) $(PYTEST_ARGS)

bench: venv
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The binary bundles psycopg2, so that one file serves SQLite and PostgreSQL alike.
build: venv
	$(BIN)/pip install --quiet -e '.[build,postgres]'
	$(BIN)/pyinstaller --clean --noconfirm --distpath dist --workpath build/work build/pyinstaller.spec

# The Debian package from the one-file binary (dpkg-deb, no internet): dist/evedge_<v>_<arch>.deb
deb: venv
	test -x dist/evedge || $(MAKE) build
	$(BIN)/python -m evedge.installer.debian dist/evedge --out dist

clean:
	rm -rf $(VENV) dist build/work .pytest_cache
