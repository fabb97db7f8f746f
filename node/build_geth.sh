#!/bin/sh
# Build geth v1.13.15 (the last release that seals Clique blocks) from the Go module proxy with
# the machine's Go, into tools/geth/bin (git-ignored). Skips the build when the pinned binary is
# already there. Why the flags: docs/network.md, "Building geth".
#
#   node/build_geth.sh            # or: make network-setup
#   HEITJE_GETH_BIN_DIR=/elsewhere node/build_geth.sh
set -eu

GETH_VERSION=1.13.15
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=${HEITJE_GETH_BIN_DIR:-$REPO/tools/geth/bin}
GETH=$BIN_DIR/geth

if [ -x "$GETH" ] && "$GETH" version 2>/dev/null | grep -q "^Version: $GETH_VERSION-stable\$"; then
    echo "geth $GETH_VERSION already built: $GETH"
    exit 0
fi

command -v go >/dev/null 2>&1 || { echo "build_geth: go not found on PATH" >&2; exit 2; }
mkdir -p "$BIN_DIR"
echo "building geth $GETH_VERSION with $(go version) into $BIN_DIR (a few minutes the first time)"

# GOTOOLCHAIN=local   build with the installed Go; never fetch another toolchain.
# GOFLAGS=-buildvcs=false  the module comes from the proxy zip, there is no VCS to stamp.
# -ldflags=-checklinkname=0  Go >= 1.23 refuses to link github.com/fjl/memsize v0.0.2 (geth's
#                     heap-size debug page), which reaches runtime.stopTheWorld by go:linkname.
#                     The page is only served with --pprof, which Heitje never enables.
GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOBIN=$BIN_DIR \
    go install -ldflags=-checklinkname=0 \
    "github.com/ethereum/go-ethereum/cmd/geth@v$GETH_VERSION"

if ! "$GETH" version | grep -q "^Version: $GETH_VERSION-stable\$"; then
    echo "build_geth: $GETH does not report version $GETH_VERSION" >&2
    exit 1
fi
echo "built $GETH"
