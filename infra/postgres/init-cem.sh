#!/usr/bin/env bash
# Run once by the postgres image at first start (docker-entrypoint-initdb.d): the platform's role and
# database. See docker-compose.yml.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U postgres -d postgres -v password="$CEM_DB_PASSWORD" <<'SQL'
CREATE ROLE cem LOGIN CREATEROLE PASSWORD :'password';
CREATE DATABASE cem OWNER cem;
SQL
