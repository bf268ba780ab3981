#!/usr/bin/env bash
# Prints the path of a Helm of the pinned version, building it once into .stack/bin.
# Helm has no Debian package and the machines reach no download site, but they reach the Go
# module proxy, so `go install` builds it from source (a few minutes cold; later runs only
# compare a stamp and return at once). The chart tests (tests/ops/test_helm_chart.py) call it.
set -euo pipefail

HELM_VERSION=v4.3.1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin_dir=${HELM_BIN_DIR:-$repo/.stack/bin}
helm=$bin_dir/helm
# A stamp, not `helm version`: a binary built by `go install` reports no exact release.
stamp=$bin_dir/helm.version

if [[ -x $helm && -f $stamp && $(<"$stamp") == "$HELM_VERSION" ]]; then
    printf '%s\n' "$helm"
    exit 0
fi

go=$(command -v go || true)
go=${go:-/usr/local/go/bin/go}
[[ -x $go ]] || {
    echo "ensure-helm.sh: no Go toolchain (looked on PATH and at /usr/local/go/bin/go)" >&2
    exit 1
}
mkdir -p "$bin_dir"
rm -f "$stamp"
# -mod=mod: Helm's module graph needs go.sum entries that `go install pkg@version` may lack.
GOBIN=$bin_dir GOFLAGS="-mod=mod ${GOFLAGS:-}" CGO_ENABLED=0 \
    "$go" install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
"$helm" version >&2
printf '%s\n' "$HELM_VERSION" >"$stamp"
printf '%s\n' "$helm"
