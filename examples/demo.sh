#!/usr/bin/env bash
# `make demo`: the main job on the tiny image shipped in examples/, offline, no registry.
#
# examples/image-signed is examples/image in dir: format plus signature-1, a sigstore
# signature for "docker.io/skopo/demo:latest" made once with a throwaway key whose public
# half is examples/demo-key.pub; examples/demo-policy.json trusts only that key for dir:
# images. The copy is verified against that policy; a tampered copy is refused.
# Every step is printed as you would type it.
set -euo pipefail
cd "$(dirname "$0")/.."
skopo() { .venv/bin/skopo "$@"; }
out=$(mktemp -d "${TMPDIR:-/tmp}/skopo-demo.XXXXXX")
# The last line says where the output was: kept with SKOPO_DEMO_KEEP=1, removed otherwise.
finish() {
    local status=$?
    if [ -n "${SKOPO_DEMO_KEEP:-}" ] && [ "$status" -eq 0 ]; then
        printf '\nOutput kept in %s (demo.tar loads with `docker load`).\n' "$out"
    else
        rm -rf "$out"
        if [ "$status" -eq 0 ]; then
            printf '\nOutput was in %s; removed it (SKOPO_DEMO_KEEP=1 keeps it).\n' "$out"
        fi
    fi
}
trap finish EXIT
policy=examples/demo-policy.json

step() { printf '\n$ %s\n' "$*"; }
say() { printf '\n# %s\n' "$*"; }

step skopo --version
skopo --version

say "The demo policy: dir: images must carry a sigstore signature by examples/demo-key.pub."
step cat "$policy"
cat "$policy"

step skopo --policy "$policy" policy check dir:examples/image-signed
skopo --policy "$policy" policy check dir:examples/image-signed

say "Copy the verified image into a docker load-able archive (the policy verifies the signature;
#   an archive cannot store it, so --remove-signatures leaves it behind, as with skopeo)."
step skopo --policy "$policy" copy --remove-signatures dir:examples/image-signed docker-archive:"$out"/demo.tar:skopo/demo:latest
skopo --policy "$policy" copy --remove-signatures dir:examples/image-signed docker-archive:"$out"/demo.tar:skopo/demo:latest

step tar -tvf "$out"/demo.tar
tar -tvf "$out"/demo.tar

step skopo inspect --format "'{{.Digest}} {{.Architecture}}/{{.Os}} layers={{.Layers}}'" docker-archive:"$out"/demo.tar
skopo inspect --format '{{.Digest}} {{.Architecture}}/{{.Os}} layers={{.Layers}}' docker-archive:"$out"/demo.tar

say "Tamper with a copy of the image: one byte added to its manifest."
step cp -r examples/image-signed "$out"/tampered
cp -r examples/image-signed "$out"/tampered
step "printf '\\n' >> $out/tampered/manifest.json"
printf '\n' >> "$out"/tampered/manifest.json

step skopo --policy "$policy" policy check dir:"$out"/tampered
if skopo --policy "$policy" policy check dir:"$out"/tampered; then
    echo "demo failed: the tampered image was accepted" >&2
    exit 1
fi

step skopo --policy "$policy" copy --remove-signatures dir:"$out"/tampered docker-archive:"$out"/tampered.tar:skopo/demo:latest
if skopo --policy "$policy" copy --remove-signatures dir:"$out"/tampered docker-archive:"$out"/tampered.tar:skopo/demo:latest; then
    echo "demo failed: the tampered image was copied" >&2
    exit 1
fi
say "Refused before anything was written: no tampered.tar, no temporary file."
step ls -A "$out"
ls -A "$out"
if [ -e "$out"/tampered.tar ] || [ "$(ls -A "$out" | wc -l)" -ne 2 ]; then
    echo "demo failed: the refused copy left something behind" >&2
    exit 1
fi

say "Stream an archive to stdout (e.g. into ssh HOST docker load); progress stays on stderr."
step "skopo --policy $policy copy -q --remove-signatures dir:examples/image-signed docker-archive:- | wc -c"
skopo --policy "$policy" copy -q --remove-signatures dir:examples/image-signed docker-archive:- | wc -c

step skopo manifest-digest examples/image-signed/manifest.json
skopo manifest-digest examples/image-signed/manifest.json

printf '\nDone.\n'
