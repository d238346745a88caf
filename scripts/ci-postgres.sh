#!/usr/bin/env bash
# Sourced by .ci/run: makes a PostgreSQL database the tests can use, as on a fresh machine.
# Installs the Debian package if missing, starts its cluster, creates a throwaway role and
# database on 127.0.0.1, exports GRYT_CI_POSTGRES (their URL) and drops both on exit.
# Needs root (apt-get, and `su postgres`). Loopback only.

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
if [ -z "$(pg_lsclusters -h)" ]; then
    pg_createcluster "$(ls /usr/lib/postgresql | sort -n | tail -1)" main
fi
read -r pg_version pg_cluster pg_port pg_status _ < <(pg_lsclusters -h | head -1)
if [ "$pg_status" != "online" ]; then
    pg_ctlcluster "$pg_version" "$pg_cluster" start
fi
for _ in $(seq 1 30); do
    su postgres -c "psql -p $pg_port -qAtc 'SELECT 1'" >/dev/null 2>&1 && break
    sleep 1
done

pg_suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
pg_role="gryt_ci_$pg_suffix"
pg_password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
su postgres -c "psql -p $pg_port -qv ON_ERROR_STOP=1" <<SQL
CREATE ROLE $pg_role LOGIN PASSWORD '$pg_password';
CREATE DATABASE $pg_role OWNER $pg_role;
SQL
export GRYT_CI_POSTGRES="postgres://$pg_role:$pg_password@127.0.0.1:$pg_port/$pg_role"

drop_ci_postgres() {
    su postgres -c "psql -p $pg_port -qc 'DROP DATABASE IF EXISTS $pg_role WITH (FORCE)' -c 'DROP ROLE IF EXISTS $pg_role'" >/dev/null 2>&1 || true
}
trap drop_ci_postgres EXIT
