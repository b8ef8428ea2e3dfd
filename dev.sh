#!/usr/bin/env bash
# Set up everything mailbridge needs on a Debian machine, then run the demo or the test suite.
#   ./dev.sh demo   local mail stack on 127.0.0.1 + mailbridge run --once + tickets and receipts printed
#   ./dev.sh test   import-linter contracts, ruff, mypy, then the full test suite (Dovecot, SMTP and PostgreSQL started by the tests)
#   ./dev.sh lint   only the contracts, ruff and mypy
#   ./dev.sh bench ingest|threading|cli|outbox|soak|fleet [args]   one of the benchmarks in bench/
#     e.g. ./dev.sh bench outbox --daemons 4 --db postgresql --mails 10000 --defer-percent 10   (see bench/outbox.py)
set -euo pipefail
cd "$(dirname "$0")"
what="${1:-test}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

find_pg() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v dovecot >/dev/null 2>&1 || missing+=(dovecot-imapd)
if [ "$what" = test ] && ! find_pg; then missing+=(postgresql); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "dev.sh: installing ${missing[*]} with apt-get" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # The distribution was called mailbridge before it became mailbridge-desk: drop an old install of it
  # first, or uninstalling it later would take the shared bin/mailbridge with it.
  .venv/bin/python -m pip uninstall -q -y mailbridge >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi

case "$what" in
  demo)  exec .venv/bin/python config/demo.py ;;
  test)
    shift || true
    # The architecture contracts, lint, format and types first: a violation fails the run before the suite.
    echo "dev.sh: import-linter contracts, ruff, mypy" >&2
    .venv/bin/lint-imports --no-cache
    .venv/bin/ruff check --quiet .
    .venv/bin/ruff format --check --quiet .
    .venv/bin/mypy
    exec .venv/bin/python -m pytest "$@" ;;
  lint)
    .venv/bin/lint-imports --no-cache && .venv/bin/ruff check . && .venv/bin/ruff format --check . && exec .venv/bin/mypy ;;
  bench)
    shift || true
    case "${1:-ingest}" in
      ingest) shift || true; exec .venv/bin/python bench/ingest.py "$@" ;;
      threading) shift || true; exec .venv/bin/python bench/threading_lookup.py "$@" ;;
      cli) shift || true; exec .venv/bin/python bench/cli.py "$@" ;;
      outbox) shift || true; exec .venv/bin/python bench/outbox.py "$@" ;;
      soak) shift || true; exec .venv/bin/python bench/soak.py "$@" ;;
      fleet) shift || true; exec .venv/bin/python bench/fleet.py "$@" ;;
      *) echo "usage: ./dev.sh bench ingest|threading|cli|outbox|soak|fleet [args]" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: ./dev.sh demo | test [pytest args] | lint | bench ingest|threading|cli|outbox [args]" >&2; exit 2 ;;
esac
