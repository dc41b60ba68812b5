# Two commands for a newcomer: `make run` (the service) and `make test` (the whole suite).
# Each sets up the virtual environment it needs on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: run test demo bench mutants clean messages

# The runtime plus SecantusDB, the embedded database used when DATABASE_URL is not set
# (GPL-2.0: it runs as its own process; its pin lives in requirements-dev.txt).
$(VENV)/.runtime: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt "$$(grep -o '^secantusdb==[^ ]*' requirements-dev.txt)"
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Reads .env (see .env.sample); says in words which settings are missing.
run: $(VENV)/.runtime
	$(PY) -m FileStream

# Two worker processes (pytest-xdist), each with its own test database and local Telegram:
# about half the time of one process on 2 cores. `.venv/bin/python -m pytest tests/x.py` runs one file.
test: $(VENV)/.dev
	$(PY) -m pytest -n 2

# The product in a minute without Telegram credentials: local Telegram server + service.
demo: $(VENV)/.dev
	$(PY) tests/demo.py

# Small defects put into the checks that guard people, one at a time: the tests must catch each
# (tests/mutants.py; a few minutes). `$(PY) tests/mutants.py NAME` runs one, `--list` names them.
mutants: $(VENV)/.dev
	$(PY) tests/mutants.py

bench: $(VENV)/.dev
	$(PY) bench/stream_bench.py

clean:
	rm -rf $(VENV)

# After adding or changing a text the people read: pick up the texts (babel.cfg says where)
# into FileStream/locales/messages.pot and add the new ones to every language's .po file;
# then translate the entries with an empty msgstr (tests/test_catalogs.py lists them).
messages: $(VENV)/.runtime
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k _ -k ngettext:1,2 --no-location --omit-header \
		--sort-output -o FileStream/locales/messages.pot .
	$(VENV)/bin/pybabel update -i FileStream/locales/messages.pot -d FileStream/locales --no-fuzzy-matching \
		--ignore-obsolete --ignore-pot-creation-date -w 100
