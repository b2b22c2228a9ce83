#!/usr/bin/env bash
# `plan import bake` against the `docker buildx bake --print` it runs, in
# the same run (hyperfine, interleaved warm runs), on the monorepo fixture:
# the goal is bake's own time plus at most 50 ms.
# Usage: bench/import_bake.sh [PLAN_BINARY]   (default target/release/plan)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plan=${1:-$root/target/release/plan}
[ -x "$plan" ] || (cd "$root" && cargo build --release --quiet)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root/tests/fixtures/import/bake/monorepo.hcl" "$work/"
cd "$work"
mkdir -p base api worker tools
for d in base api worker; do printf 'FROM scratch\n' >"$d/Dockerfile"; done
printf 'FROM scratch AS release\n' >tools/tools.Dockerfile
touch api/netrc
hyperfine -N --warmup 3 --runs 30 --export-markdown "$work/out.md" \
  'docker buildx bake --print -f monorepo.hcl' \
  "$plan import bake monorepo.hcl" >/dev/null
cat "$work/out.md"
