#!/bin/sh
# Runs the PHP client's tests: generates the protobuf classes (build.sh), then
# php tests/run.php, which starts its own solar servers from $SOLAR_BIN.
#
#   SOLAR_BIN=build/solar clients/php/run_tests.sh [FILTER]
#
# Env: SOLAR_BIN          the solar server binary [the repository's build/solar]
#      SOLAR_PHP_GEN_DIR  where build.sh writes the generated classes [clients/php/gen]
#      PHP                the PHP CLI [php]
# Needs the Debian packages php-cli, php-google-protobuf and protobuf-compiler.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
SOLAR_BIN=${SOLAR_BIN:-$here/../../build/solar}
case $SOLAR_BIN in /*) ;; *) SOLAR_BIN=$(pwd)/$SOLAR_BIN ;; esac
if [ ! -x "$SOLAR_BIN" ]; then
  echo "run_tests.sh: no solar binary at $SOLAR_BIN (build it, or set SOLAR_BIN)" >&2
  exit 1
fi
export SOLAR_BIN

"$here/build.sh"
exec "${PHP:-php}" "$here/tests/run.php" "$@"
