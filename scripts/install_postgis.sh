#!/usr/bin/env bash
# PostgreSQL with PostGIS for the tests (the store tests run on SQLite and PostgreSQL): installs
# Debian's postgresql-<version>-postgis-3 for the machine's PostgreSQL when the postgis extension
# is not available, and starts the cluster when it is not running. Idempotent and quick when all
# is there; safe with CI=true and no standard input; uses sudo only when not root.
# The tests connect to postgresql+psycopg://postgres@127.0.0.1:5432/postgres (trust auth) unless
# ZHIZHI_TEST_POSTGRES says otherwise.
set -euo pipefail

fail() {
  echo "install_postgis.sh: $*" >&2
  echo "install_postgis.sh: by hand: apt-get install postgresql postgresql-<version>-postgis-3;" \
    "pg_ctlcluster --skip-systemctl-redirect <version> main start" >&2
  exit 1
}

source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

ver="$(pg_version)"
if [[ -z "$ver" ]]; then
  apt_install postgresql
  ver="$(pg_version)"
  [[ -n "$ver" ]] || fail "PostgreSQL still missing after apt-get install postgresql"
fi

if [[ ! -f "/usr/share/postgresql/$ver/extension/postgis.control" ]]; then
  apt_install "postgresql-$ver-postgis-3"
  [[ -f "/usr/share/postgresql/$ver/extension/postgis.control" ]] \
    || fail "postgis still not available for PostgreSQL $ver after apt-get install"
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "==> starting PostgreSQL $ver (cluster main)"
  [[ "${SUDO[*]}" != "false" ]] || fail "PostgreSQL is not running and this user cannot start it"
  "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$ver" main start </dev/null \
    || fail "pg_ctlcluster $ver main start failed"
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break
    sleep 1
  done
  pg_isready -q -h 127.0.0.1 -p 5432 || fail "PostgreSQL $ver did not come up on 127.0.0.1:5432"
fi

if command -v psql >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" </dev/null 2>/dev/null \
    | grep -qx 1 || fail "cannot use postgres@127.0.0.1:5432 or postgis is not available there" \
    "(the tests need trust or a ZHIZHI_TEST_POSTGRES URL that works)"
fi
echo "PostgreSQL $ver with PostGIS ready on 127.0.0.1:5432"
