#!/usr/bin/env bash
# Build build/ferretdb/bin/ferretdb (FerretDB 1.x: the MongoDB wire protocol over SQLite or
# PostgreSQL) unless it is newer than its sources. The mongodb node's tests run against it:
# there is no MongoDB server in Debian. See README.md.
#
# The Go module and build caches stay at their defaults so rebuilds are quick.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${WEIR_FERRETDB_BIN:-$root/build/ferretdb/bin/ferretdb}

# Make-style freshness: rebuild only if a source is newer than the binary.
if [[ -x "$out" && -z "$(find "$here" -maxdepth 1 \( -name go.mod -o -name go.sum -o -name '*.go' -o -name build.sh \) -newer "$out")" ]]; then
    echo "ferretdb is up to date: $out" >&2
    exit 0
fi

# Go where the machine image puts it, should PATH not say so.
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "build.sh: Go 1.24 or newer is needed (go not found)" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
cd "$here"
# go.mod says go 1.24; a local 1.24+ toolchain builds it without downloading another.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
# Static: modernc.org/sqlite is pure Go, so no C compiler is needed.
export CGO_ENABLED=0
# -mod=readonly (the default) since go.sum is committed; -buildvcs=false keeps the
# repository's commits from relinking the binary.
go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$out.tmp" .
mv "$out.tmp" "$out"
echo "built $out ($("$out" --version 2>&1 | head -1))" >&2
