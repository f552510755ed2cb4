#!/bin/sh
# Generates the PHP classes of proto/kv.proto (namespace Solar\Kv, from its
# `package solar.kv`; plus GPBMetadata\Kv) for autoload.php and composer.json.
#
#   clients/php/build.sh
#
# Env: SOLAR_PHP_GEN_DIR  output directory [clients/php/gen]
#      SOLAR_PROTO_DIR    where kv.proto is [the repository's proto/]
#      PROTOC             the compiler [protoc] (Debian: protobuf-compiler)
# The output is replaced whole (built beside it, then renamed), so a reader
# never sees half of it. Generated code is not committed (.gitignore).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
proto_dir=${SOLAR_PROTO_DIR:-$here/../../proto}
out=${SOLAR_PHP_GEN_DIR:-$here/gen}
protoc=${PROTOC:-protoc}

if ! command -v "$protoc" >/dev/null 2>&1; then
  echo "build.sh: $protoc not found (Debian: apt-get install protobuf-compiler)" >&2
  exit 1
fi
if [ ! -f "$proto_dir/kv.proto" ]; then
  echo "build.sh: no kv.proto in $proto_dir (set SOLAR_PROTO_DIR)" >&2
  exit 1
fi

proto_dir=$(cd "$proto_dir" && pwd)
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$protoc" --php_out="$tmp" -I "$proto_dir" "$proto_dir/kv.proto"
chmod 0755 "$tmp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "build.sh: generated $(find "$out" -name '*.php' | wc -l) classes from $proto_dir/kv.proto into $out"
