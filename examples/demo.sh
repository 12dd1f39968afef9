#!/usr/bin/env bash
# `make demo`: the main job on the tiny image shipped in examples/image, offline.
# Every step is printed as you would type it.
set -euo pipefail
cd "$(dirname "$0")/.."
skopo() { .venv/bin/skopo "$@"; }
out=$(mktemp -d "${TMPDIR:-/tmp}/skopo-demo.XXXXXX")
trap 'rm -rf "$out"' EXIT

step() { printf '\n$ %s\n' "$*"; }

step skopo --version
skopo --version

step skopo manifest-digest examples/image/blobs/sha256/f79e3cf4...
skopo manifest-digest examples/image/blobs/sha256/f79e3cf44074156d87743ddd348fcb4e8d37bd2777ad31b02b2f583b847ea2c8

step skopo inspect oci:examples/image:demo
skopo inspect oci:examples/image:demo

step skopo --insecure-policy copy oci:examples/image:demo docker-archive:"$out"/demo.tar:skopo/demo:latest
skopo --insecure-policy copy oci:examples/image:demo docker-archive:"$out"/demo.tar:skopo/demo:latest

step tar -tvf "$out"/demo.tar
tar -tvf "$out"/demo.tar

step skopo inspect --format "'{{.Digest}} {{.Architecture}}/{{.Os}} layers={{.Layers}}'" docker-archive:"$out"/demo.tar
skopo inspect --format '{{.Digest}} {{.Architecture}}/{{.Os}} layers={{.Layers}}' docker-archive:"$out"/demo.tar

step "skopo --insecure-policy copy -q oci:examples/image:demo docker-archive:- | wc -c"
skopo --insecure-policy copy -q oci:examples/image:demo docker-archive:- | wc -c

printf '\nThe archive in %s loads with `docker load`. Done.\n' "$out"
