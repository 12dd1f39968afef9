#!/usr/bin/env bash
# Install the Debian packages the tests use as real peers, if any is missing.
# Needs root (CI runs as root); otherwise says what is missing and lets the peer tests skip.
set -euo pipefail
declare -A need=(
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [podman]=podman
  [containers-storage]=containers-storage
  [fuse-overlayfs]=fuse-overlayfs
  [htpasswd]=apache2-utils
  [gpg]=gnupg
  [groff]=groff
  [mksquashfs]=squashfs-tools
  [unsquashfs]=squashfs-tools
  [sqfs2tar]=squashfs-tools-ng
  [fakeroot]=fakeroot
  [man]=man-db
  # a static binary for an image podman can run (tests/integration/test_zstd_chunked_interop.py)
  [busybox]=busybox-static
)
missing=()
for bin in "${!need[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${need[$bin]}")
done
# GNU time for bench/run.py's peak RSS (`command -v time` finds the shell keyword instead)
[ -x /usr/bin/time ] || missing+=(time)
((${#missing[@]})) || exit 0
echo "installing test peers: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "not root: cannot install ${missing[*]}; tests that need them will skip" >&2
    exit 0
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq </dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
