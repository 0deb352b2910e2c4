#!/usr/bin/env bash
# Build build/controlplane/bin/weir-controlplane (etcd, kube-apiserver,
# kube-controller-manager and kubectl in one binary) unless it is newer than its sources.
#
# The Go module and build caches stay at their defaults so rebuilds are quick.
# Cold, it downloads ~0.6 GB of modules and compiles for minutes; see README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${WEIR_CONTROLPLANE_BIN:-$root/build/controlplane/bin/weir-controlplane}

# Make-style freshness: rebuild only if a source is newer than the binary.
if [[ -x "$out" && -z "$(find "$here" -maxdepth 1 \( -name go.mod -o -name go.sum -o -name '*.go' -o -name build.sh \) -newer "$out")" ]]; then
    echo "weir-controlplane is up to date: $out" >&2
    exit 0
fi

# Go where the machine image puts it, should PATH not say so.
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "build.sh: Go 1.25 or newer is needed (go not found)" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
cd "$here"
# go.mod says go 1.25; a local 1.25+ toolchain builds it without downloading another.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
# Static, like Kubernetes' release binaries: no C compiler needed, runs on any Linux.
export CGO_ENABLED=0
# Stamp the version as Kubernetes' own build does (hack/lib/version.sh): without it the
# binaries report v0.0.0-master, which kubectl and version checks cannot use.
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
done
# -mod=readonly (the default) since go.sum is committed; -buildvcs=false keeps
# the repository's commits from relinking the binary.
go build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$out.tmp" .
mv "$out.tmp" "$out"
echo "built $out ($("$out" kube-apiserver --version))" >&2
