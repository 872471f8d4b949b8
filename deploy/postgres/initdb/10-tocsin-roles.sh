#!/bin/sh
# First start of the PostgreSQL volume only (docker-entrypoint-initdb.d): the two roles of
# Tocsin. `tocsin_owner` owns the database and its schema and runs the migrations
# (`tocsin db upgrade`); `tocsin_app` (ingest, notify, console, purge) may connect and read and
# write rows, nothing else: no DDL, no role, no other database. The passwords come from the
# Docker secrets, never from an env file. Later password changes: ALTER ROLE … PASSWORD.
set -eu
owner=${TOCSIN_DB_OWNER:-tocsin_owner}
app=${TOCSIN_DB_APP:-tocsin_app}
db=${POSTGRES_DB:?POSTGRES_DB is not set}
owner_password=$(cat "${TOCSIN_DB_OWNER_PASSWORD_FILE:-/run/secrets/tocsin_db_owner_password}")
app_password=$(cat "${TOCSIN_DB_APP_PASSWORD_FILE:-/run/secrets/tocsin_db_app_password}")
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "$db" \
  -v owner="$owner" -v app="$app" -v db="$db" \
  -v owner_password="$owner_password" -v app_password="$app_password" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';
ALTER DATABASE :"db" OWNER TO :"owner";
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";
GRANT USAGE ON SCHEMA public TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"app";
SQL
