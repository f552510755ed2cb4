#!/bin/sh
# Patroni's post_bootstrap hook: run once, as the postgres user, on the node
# that initialised the cluster; $1 is a connection URL to it. Creates the role
# and database solar connects with (the postgres_dsn setting in solar-host.conf.in).
# The password comes from SOLAR_DB_PASSWORD in Patroni's environment.
set -eu
psql -v ON_ERROR_STOP=1 -q "$1" <<SQL
CREATE ROLE solar LOGIN PASSWORD '${SOLAR_DB_PASSWORD:-solar}';
CREATE DATABASE kv OWNER solar;
SQL
