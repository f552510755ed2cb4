#!/bin/sh
# Runs the Python client's tests: generates the KV code (build.sh), then the
# unittest suite, which starts its own solar servers from $SOLAR_BIN on free
# loopback ports (each with its config, pid file and state in a temp dir).
#
#   SOLAR_BIN=build/solar clients/python/run_tests.sh [unittest args: -v, -k NAME, ...]
#
# Env: SOLAR_BIN  the solar server binary [the repository's build/solar]
#      PYTHON     the interpreter [/usr/bin/python3, which sees Debian's python3-protobuf]
# Needs the Debian packages python3, python3-protobuf and protobuf-compiler.
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
cd "$here"
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-/usr/bin/python3}" -m unittest discover -s tests -t . "$@"
