#!/bin/bash
# Checks that #include "..." between src/ folders follows the one-way order in
# STYLE.md: base -> sys, config, ipc -> scoreboard -> app -> listener|worker|udp
# -> master -> main.cc. api/ includes only api/. Roles never include each other.
# An app (src/apps/NAME/) includes only the public API (api/) and its own
# apps/NAME/ headers, like a module built out of the tree: its settings reach it
# through WorkerInfo, not the server's config. The core never includes an app.
# Generated headers (no slash: config.pb.h, kv.pb.h) are not checked.
set -euo pipefail
cd "$(dirname "$0")/.."
rank() {
  case "$1" in
    api) echo 0 ;; base) echo 1 ;; sys|config|ipc) echo 2 ;; scoreboard) echo 3 ;;
    app) echo 4 ;; listener|worker|udp|admin) echo 5 ;; master) echo 6 ;; *) echo 9 ;;
  esac
}
status=0
while IFS= read -r line; do
  file=${line%%:*}
  inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"${line#*:}")
  from=$(cut -d/ -f2 <<<"$file")
  to=${inc%%/*}
  [[ "$inc" == */* ]] || continue           # generated headers (config.pb.h)
  [[ "$file" == src/main.cc ]] && continue  # main may include anything
  if [[ "$from" == apps ]]; then
    app=$(cut -d/ -f3 <<<"$file")
    if [[ "$to" != api && "$inc" != "apps/$app/"* ]]; then
      echo "include-direction: $file includes $inc (an app includes only api/ and its own apps/$app/)"; status=1
    fi
    continue
  fi
  if [[ "$to" == apps ]]; then
    echo "include-direction: $file includes $inc (the core never includes an app)"; status=1; continue
  fi
  [[ "$from" == "$to" ]] && continue
  if [[ "$from" == api && "$to" != api ]]; then
    echo "include-direction: $file includes $inc (api/ must include nothing internal)"; status=1; continue
  fi
  if [[ "$(rank "$from")" == 5 && "$(rank "$to")" == 5 && "$to" != "$from" ]]; then
    echo "include-direction: $file includes $inc (roles never include each other)"; status=1; continue
  fi
  if (( $(rank "$to") > $(rank "$from") )) || { (( $(rank "$to") == $(rank "$from") )) && [[ "$to" != api ]] && (( $(rank "$to") != 2 )); }; then
    echo "include-direction: $file includes $inc ($from may not depend on $to)"; status=1
  fi
done < <(grep -rn --include='*.h' --include='*.cc' '^#include "' src | sed -E 's/^([^:]+):[0-9]+:/\1:/')
[[ $status == 0 ]] && echo "include directions: ok"
exit $status
