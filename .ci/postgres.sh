#!/usr/bin/env bash
# PostgreSQL for the hub's tests: running on 127.0.0.1:5432, trust for loopback, database
# "test". Starts a Debian cluster when one is installed but down; says what is missing
# otherwise (the CI hook then fails the tests that needed it, naming the reason).
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
if ! ready && command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  read -r ver name _ < <(pg_lsclusters --no-header | head -1) || true
  if [ -n "${ver:-}" ]; then
    hba="/etc/postgresql/$ver/$name/pg_hba.conf"
    # CI only: loopback connections need no password (the tests connect as postgres/root)
    grep -q "^host all all 127.0.0.1/32 trust" "$hba" 2>/dev/null \
      || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    pg_ctlcluster "$ver" "$name" start || pg_ctlcluster "$ver" "$name" reload || true
    for _ in $(seq 50); do ready && break; sleep 0.2; done
  fi
fi
if ! ready; then
  echo "note: no PostgreSQL on 127.0.0.1:5432 (apt-get install postgresql)" >&2
  exit 0
fi
for user in postgres root; do
  if psql -h 127.0.0.1 -U "$user" -d postgres -tAc "SELECT 1" >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U "$user" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
      || psql -h 127.0.0.1 -U "$user" -d postgres -qc "CREATE DATABASE test"
    exit 0
  fi
done
echo "note: PostgreSQL is up but neither postgres nor root may connect from 127.0.0.1" >&2
