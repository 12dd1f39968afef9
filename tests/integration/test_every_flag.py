"""Every flag of every command either changes something observable or is refused clearly.

The command tree is introspected (the click command Typer builds, with every built-in
subcommand); each option must have an entry in `FLAGS`, keyed `"COMMAND --flag"` (`""` for
the root). A flag without an entry fails `test_every_flag_has_an_entry`: a new flag needs
one. An entry is one of:

- `Differs(base, flagged, on)`: both command lines are run (against the real servers of
  the `world` fixture) and what `on` names differs: `rc` (exit status), `stdout`,
  `stderr`, `out` (the tree written at `{out}`), `tokens` (the requests the token server
  received: anonymous or with a password), `log` (registry log lines naming `walk-agent`);
- `ProxyDiffers(base, flagged, on)`: the same through `experimental-image-proxy`, which
  opens `{img}` (`ok`: whether OpenImage succeeded; `tokens`);
- `Refused(argv, match)`: one clear error line, non-zero exit;
- `TestedIn("tests/...py::test_name")`: the effect needs more than one command line and is
  asserted by that test; the test must exist and use the flag (checked here, by its source);
- `SameAs("COMMAND")`: the same flag of the same flag group as `COMMAND`'s (same spellings
  and help), parsed by the same function; that entry must be a real check.

Placeholders in command lines: `{reg}` (TLS registry with token auth), `{img}` (an image
there), `{certs}` (its CA), `{auth}` (an auth file with its credentials), `{user}`/`{pw}`,
`{src}` (a dir: image), `{layout}`/`{blobs}` (an OCI layout whose blobs are in a shared
directory), `{conf}` (registries.conf making `{reg}` insecure), `{dead}` (a registry
answering 503 to everything), `{nosock}` (a docker socket that does not exist), `{out}` (a fresh path,
the same for both runs of a check).
"""

from __future__ import annotations

import ast
import base64
import http.server
import json
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
from helpers.env import make_isolated_home
from helpers.images import build_image, tar_bytes, write_dir
from helpers.proxy_client import ProxyCallError, ProxyClient
from helpers.registry import RegistryServer, start_registry
from helpers.tls import CertificateAuthority
from helpers.token_issuer import TokenIssuer, start_token_issuer
from helpers.trees import snapshot

pytestmark = pytest.mark.peer

TESTS = Path(__file__).resolve().parents[1]
USER, PASSWORD = "bob", "hunter2"


@dataclass(frozen=True)
class Differs:
    base: tuple[str, ...]
    flagged: tuple[str, ...]
    on: str = "rc"


@dataclass(frozen=True)
class ProxyDiffers:
    base: tuple[str, ...]
    flagged: tuple[str, ...]
    on: str = "ok"


@dataclass(frozen=True)
class Refused:
    argv: tuple[str, ...]
    match: str


@dataclass(frozen=True)
class TestedIn:
    __test__ = False  # a table entry, not a test class for pytest to collect
    test: str


@dataclass(frozen=True)
class SameAs:
    command: str


Check = Differs | ProxyDiffers | Refused | TestedIn | SameAs


def D(base: str, flagged: str, on: str = "rc") -> Differs:
    return Differs(tuple(base.split()), tuple(flagged.split()), on)


def P(base: str, flagged: str, on: str = "ok") -> ProxyDiffers:
    return ProxyDiffers(tuple(base.split()), tuple(flagged.split()), on)


# On the token-auth registry (plain HTTP): credentials, tokens, auth files.
PULL_C = "copy -q --src-tls-verify=false {img} dir:{out}"
PUSH_C = "copy -q --dest-tls-verify=false dir:{src} docker://{reg}/walk/pushed:v1"
INSPECT_C = "inspect --tls-verify=false {img}"
TAGS_C = "list-tags --tls-verify=false docker://{reg}/walk/img"
CHECK_C = "policy check --tls-verify=false {img}"
DELETE_C = "delete --tls-verify=false docker://{reg}/walk/doomed:v1"
SYNC_PULL_C = "sync -q --src docker --dest dir --src-tls-verify=false {reg}/walk/img:v1 {out}"
SYNC_PUSH_C = "sync -q --src dir --dest docker --dest-tls-verify=false {src} {reg}/walk/synced-{n}"
LOGIN_C = "login --authfile {out} --tls-verify=false {reg}"
PROXY_T = "--tls-verify=false"
SYNC_T = "sync -q --src docker --dest dir {treg}/walk/img:v1 {out}"
# On the TLS registry (no auth), whose CA is only in {certs}: certificates and verification.
PULL = "copy -q {timg} dir:{out}"
DAEMON = "docker-daemon:walk/none:v1"

FLAGS: dict[str, Check] = {
    # ------------------------------------------------------------------ global
    " --policy": TestedIn("integration/test_cli_bad_inputs.py::test_policy_file_that_is_a_directory"),
    " --insecure-policy": D("copy -q dir:{src} dir:{out}", "--insecure-policy copy -q dir:{src} dir:{out}"),
    " --registries.d": TestedIn("integration/test_signing_interop.py::test_registry_lookaside_both_ways"),
    " --registries-conf": D("inspect {timg}", "--registries-conf {conf} inspect {timg}"),
    " --override-arch": TestedIn("integration/test_artifacts.py::test_platform_selection_never_picks_an_attestation"),
    " --override-os": TestedIn("integration/test_artifacts.py::test_platform_selection_never_picks_an_attestation"),
    " --override-variant": TestedIn(
        "integration/test_sync.py::test_sync_multiarch_without_all_copies_this_platform_and_then_skips"),
    " --tmpdir": TestedIn("integration/test_main_flags.py::test_dest_precompute_digests_side_by_side"),
    " --command-timeout": D("inspect {dead}", "--command-timeout 1s inspect {dead}", "stderr"),
    " --user-agent-prefix": D("inspect --cert-dir {certs} {timg}",
                              "--user-agent-prefix walk-agent inspect --cert-dir {certs} {timg}", "log"),
    " --require-signed": TestedIn("integration/test_main_flags.py::test_require_signed"),
    " --tls-details": TestedIn("integration/test_main_flags.py::test_tls_details_narrow_what_the_client_offers"),
    " --tls-verify": TestedIn("integration/test_main_flags.py::test_deprecated_tls_verify_side_by_side"),
    " --debug": D(INSPECT_C, "--debug " + INSPECT_C, "stderr"),
    " --version": D("--help", "--version", "stdout"),
    " --install-completion": D("--help", "--install-completion", "stdout"),
    " --show-completion": D("--help", "--show-completion", "stdout"),
    # ------------------------------------------------------------------ copy
    "copy --authfile": D(PULL_C, PULL_C + " --authfile {auth}", "tokens"),
    "copy --src-authfile": D(PULL_C, PULL_C + " --src-authfile {auth}", "tokens"),
    "copy --src-creds": D(PULL_C, PULL_C + " --src-creds {user}:{pw}", "tokens"),
    "copy --screds": TestedIn("integration/test_main_flags.py::test_screds_dcreds_side_by_side"),
    "copy --src-username": D(PULL_C, PULL_C + " --src-username {user} --src-password {pw}", "tokens"),
    "copy --src-password": D(PULL_C, PULL_C + " --src-username {user} --src-password {pw}", "tokens"),
    "copy --src-registry-token": D(PULL_C, PULL_C + " --src-registry-token bogus", "tokens"),
    "copy --src-cert-dir": D(PULL, PULL + " --src-cert-dir {certs}"),
    "copy --src-tls-verify": D(PULL, PULL + " --src-tls-verify=false"),
    "copy --src-no-creds": D(PULL_C + " --authfile {auth}", PULL_C + " --authfile {auth} --src-no-creds", "tokens"),
    "copy --src-shared-blob-dir": D("copy -q oci:{layout}:v1 dir:{out}",
                                    "copy -q --src-shared-blob-dir {blobs} oci:{layout}:v1 dir:{out}"),
    "copy --src-daemon-host": D(f"copy -q {DAEMON} dir:{{out}}",
                                f"copy -q --src-daemon-host {{nosock}} {DAEMON} dir:{{out}}", "stderr"),
    "copy --dest-authfile": D(PUSH_C, PUSH_C + " --dest-authfile {auth}"),
    "copy --dest-creds": D(PUSH_C, PUSH_C + " --dest-creds {user}:{pw}"),
    "copy --dcreds": TestedIn("integration/test_main_flags.py::test_screds_dcreds_side_by_side"),
    "copy --dest-username": D(PUSH_C, PUSH_C + " --dest-username {user} --dest-password {pw}"),
    "copy --dest-password": D(PUSH_C, PUSH_C + " --dest-username {user} --dest-password {pw}"),
    "copy --dest-registry-token": D(PUSH_C + " --dest-creds {user}:{pw}",
                                    PUSH_C + " --dest-creds {user}:{pw} --dest-registry-token bogus"),
    "copy --dest-cert-dir": TestedIn("integration/test_docker_registry.py::test_tls_cert_dir_and_certs_d"),
    "copy --dest-tls-verify": D("copy -q dir:{src} docker://{treg}/walk/pushed:v1",
                                "copy -q --dest-tls-verify=false dir:{src} docker://{treg}/walk/pushed:v1"),
    "copy --dest-no-creds": D(PUSH_C + " --authfile {auth}", PUSH_C + " --authfile {auth} --dest-no-creds"),
    "copy --dest-shared-blob-dir": D("copy -q dir:{src} oci:{out}:v1",
                                     "copy -q --dest-shared-blob-dir {out}-blobs dir:{src} oci:{out}:v1", "out"),
    "copy --dest-daemon-host": D(f"copy -q dir:{{src}} {DAEMON}",
                                 f"copy -q --dest-daemon-host {{nosock}} dir:{{src}} {DAEMON}", "stderr"),
    "copy --dest-compress": TestedIn("integration/test_copy_interop.py::test_dest_compress_to_dir"),
    "copy --dest-decompress": D("copy -q dir:{src} dir:{out}", "copy -q --dest-decompress dir:{src} dir:{out}",
                                "out"),
    "copy --dest-oci-accept-uncompressed-layers": TestedIn(
        "integration/test_containers_storage_interop.py::test_skopo_copies_out_what_podman_pulled"),
    "copy --dest-compress-format": D("copy -q dir:{src} oci:{out}:v1",
                                     "copy -q --dest-compress-format zstd dir:{src} oci:{out}:v1", "out"),
    "copy --dest-compress-level": D("copy -q --dest-compress dir:{csrc} dir:{out}",
                                    "copy -q --dest-compress --dest-compress-level 1 dir:{csrc} dir:{out}", "out"),
    "copy --dest-precompute-digests": TestedIn(
        "integration/test_main_flags.py::test_dest_precompute_digests_side_by_side"),
    "copy --dest-force-compress-format": TestedIn("integration/test_main_flags.py::test_dest_force_compress_format"),
    "copy --retry-times": D("copy -q {dead} dir:{out}", "copy -q --retry-times 1 --retry-delay 1ms {dead} dir:{out}",
                            "stderr"),
    "copy --retry-delay": D("copy -q --retry-times 1 --retry-delay 100ms {dead} dir:{out}",
                            "copy -q --retry-times 1 --retry-delay 200ms {dead} dir:{out}", "stderr"),
    "copy --remove-signatures": TestedIn("integration/test_copy_interop.py::test_remove_signatures"),
    "copy --remove-list-signatures": TestedIn(
        "integration/test_platform_subsets.py::test_list_signatures_block_stripping_unless_removed"),
    "copy --sign-by": TestedIn("integration/test_signing_local.py::test_sign_then_verify_and_carry"),
    "copy --sign-by-sq-fingerprint": Refused(
        ("--insecure-policy", "copy", "--sign-by-sq-fingerprint", "ABCD", "dir:{src}", "dir:{out}"),
        "--sign-by-sq-fingerprint is not supported"),
    "copy --sign-by-sigstore-private-key": TestedIn(
        "integration/test_sigstore_signing.py::test_sign_with_private_key_and_passphrase_file"),
    "copy --sign-by-sigstore": TestedIn("integration/test_sigstore_signing.py::test_sign_with_parameter_file"),
    "copy --sign-passphrase-file": TestedIn("integration/test_signing_local.py::test_passphrase_file"),
    "copy --format": D("copy -q dir:{src} dir:{out}", "copy -q --format v2s2 dir:{src} dir:{out}", "out"),
    "copy --preserve-digests": TestedIn("integration/test_copy_interop.py::test_preserve_digests_refuses_a_conversion"),
    "copy --all": TestedIn(
        "integration/test_artifacts.py::test_buildx_index_all_registry_to_registry_oci_dir_and_back"),
    "copy --multi-arch": TestedIn(
        "integration/test_artifacts.py::test_buildx_index_all_registry_to_registry_oci_dir_and_back"),
    "copy --strip-removed-platforms": TestedIn(
        "integration/test_platform_subsets.py::test_strip_removed_platforms_registry_to_registry"),
    "copy --referrers": TestedIn("integration/test_referrers.py::test_oci_to_oci_copies_the_whole_tree"),
    "copy --additional-tag": TestedIn("integration/test_copy_interop.py::test_additional_tags"),
    "copy --quiet": D("copy dir:{src} dir:{out}", "copy --quiet dir:{src} dir:{out}", "stderr"),
    "copy --sign-identity": TestedIn("integration/test_signing_local.py::test_sign_then_verify_and_carry"),
    "copy --digestfile": D("copy -q dir:{src} dir:{out}", "copy -q --digestfile {out}/digest dir:{src} dir:{out}",
                           "out"),
    "copy --encryption-key": TestedIn("integration/test_encryption_interop.py::test_flag_combinations"),
    "copy --encrypt-layer": TestedIn(
        "integration/test_encryption_interop.py::test_several_recipients_and_chosen_layers"),
    "copy --decryption-key": TestedIn("integration/test_encryption_interop.py::test_wrong_or_missing_keys"),
    "copy --image-parallel-copies": Refused(
        ("--insecure-policy", "copy", "--image-parallel-copies", "-1", "dir:{src}", "dir:{out}"),
        "must not be negative"),
    "copy --tls-verify": TestedIn("integration/test_main_flags.py::test_deprecated_tls_verify_side_by_side"),
    # ------------------------------------------------------------------ delete
    "delete --authfile": D(DELETE_C, DELETE_C + " --authfile {auth}"),
    "delete --creds": D(DELETE_C, DELETE_C + " --creds {user}:{pw}"),
    "delete --username": D(DELETE_C, DELETE_C + " --username {user} --password {pw}"),
    "delete --password": D(DELETE_C, DELETE_C + " --username {user} --password {pw}"),
    "delete --registry-token": D(DELETE_C + " --creds {user}:{pw}",
                                 DELETE_C + " --creds {user}:{pw} --registry-token x"),
    "delete --cert-dir": D("delete docker://{treg}/walk/doomed:v1",
                           "delete --cert-dir {certs} docker://{treg}/walk/doomed:v1"),
    "delete --tls-verify": D("delete docker://{treg}/walk/doomed:v1",
                             "delete --tls-verify=false docker://{treg}/walk/doomed:v1"),
    "delete --no-creds": D(DELETE_C + " --authfile {auth}", DELETE_C + " --authfile {auth} --no-creds"),
    "delete --shared-blob-dir": D("delete oci:{out}:v1", "delete --shared-blob-dir {out}-blobs oci:{out}:v1"),
    # It names the daemon of docker-daemon: images, which cannot be deleted (as in skopeo).
    "delete --daemon-host": Refused(("delete", "--daemon-host", "{nosock}", DAEMON),
                                    "Deleting images not implemented for docker-daemon"),
    "delete --retry-times": D("delete {dead}", "delete --retry-times 1 --retry-delay 1ms {dead}", "stderr"),
    "delete --retry-delay": D("delete --retry-times 1 --retry-delay 100ms {dead}",
                              "delete --retry-times 1 --retry-delay 200ms {dead}", "stderr"),
    # ------------------------------------------------------------------ experimental-image-proxy
    "experimental-image-proxy --sockfd": TestedIn(
        "integration/test_image_proxy.py::test_a_bad_socket_fd_is_one_error_line"),
    "experimental-image-proxy --authfile": P(PROXY_T, PROXY_T + " --authfile {auth}", "tokens"),
    "experimental-image-proxy --creds": P(PROXY_T, PROXY_T + " --creds {user}:{pw}", "tokens"),
    "experimental-image-proxy --username": P(PROXY_T, PROXY_T + " --username {user} --password {pw}", "tokens"),
    "experimental-image-proxy --password": P(PROXY_T, PROXY_T + " --username {user} --password {pw}", "tokens"),
    "experimental-image-proxy --registry-token": P(PROXY_T, PROXY_T + " --registry-token x", "tokens"),
    "experimental-image-proxy --cert-dir": P("", "--cert-dir {certs}", "tls"),
    "experimental-image-proxy --tls-verify": P("", "--tls-verify=false", "tls"),
    "experimental-image-proxy --no-creds": P(PROXY_T + " --authfile {auth}", PROXY_T + " --authfile {auth} --no-creds",
                                             "tokens"),
    "experimental-image-proxy --shared-blob-dir": TestedIn(
        "integration/test_every_flag.py::test_proxy_shared_blob_dir"),
    "experimental-image-proxy --daemon-host": TestedIn("integration/test_every_flag.py::test_proxy_daemon_host"),
    # ------------------------------------------------------------------ generate-sigstore-key
    "generate-sigstore-key --output-prefix": TestedIn(
        "integration/test_sigstore_registry.py::test_refusals_name_the_reason_and_leave_the_destination"),
    "generate-sigstore-key --passphrase-file": TestedIn(
        "integration/test_sigstore_registry.py::test_refusals_name_the_reason_and_leave_the_destination"),
    # ------------------------------------------------------------------ inspect
    "inspect --raw": D("inspect dir:{src}", "inspect --raw dir:{src}", "stdout"),
    "inspect --config": D("inspect dir:{src}", "inspect --config dir:{src}", "stdout"),
    "inspect --format": D("inspect dir:{src}", "inspect --format {{{{.Os}}}} dir:{src}", "stdout"),
    "inspect --no-tags": TestedIn("integration/test_docker_registry.py::test_inspect_matches_skopeo"),
    "inspect --platforms": TestedIn("integration/test_inspect_multiarch.py::test_platforms_lists_every_instance"),
    "inspect --referrers": TestedIn("integration/test_referrers.py::test_inspect_referrers_json_and_tree"),
    "inspect --tree": TestedIn("integration/test_referrers.py::test_inspect_referrers_json_and_tree"),
    "inspect --manifest-digest": D("inspect dir:{src}", "inspect --manifest-digest sha512 dir:{src}", "stdout"),
    "inspect --authfile": D(INSPECT_C, INSPECT_C + " --authfile {auth}", "tokens"),
    "inspect --creds": D(INSPECT_C, INSPECT_C + " --creds {user}:{pw}", "tokens"),
    "inspect --username": D(INSPECT_C, INSPECT_C + " --username {user} --password {pw}", "tokens"),
    "inspect --password": D(INSPECT_C, INSPECT_C + " --username {user} --password {pw}", "tokens"),
    "inspect --registry-token": D(INSPECT_C, INSPECT_C + " --registry-token bogus", "tokens"),
    "inspect --cert-dir": D("inspect {timg}", "inspect --cert-dir {certs} {timg}"),
    "inspect --tls-verify": D("inspect {timg}", "inspect --tls-verify=false {timg}"),
    "inspect --no-creds": D(INSPECT_C + " --authfile {auth}", INSPECT_C + " --authfile {auth} --no-creds", "tokens"),
    "inspect --shared-blob-dir": D("inspect oci:{layout}:v1", "inspect --shared-blob-dir {blobs} oci:{layout}:v1"),
    "inspect --daemon-host": D(f"inspect {DAEMON}", f"inspect --daemon-host {{nosock}} {DAEMON}", "stderr"),
    "inspect --retry-times": D("inspect {dead}", "inspect --retry-times 1 --retry-delay 1ms {dead}", "stderr"),
    "inspect --retry-delay": D("inspect --retry-times 1 --retry-delay 100ms {dead}",
                               "inspect --retry-times 1 --retry-delay 200ms {dead}", "stderr"),
    # ------------------------------------------------------------------ layers (hidden, deprecated)
    "layers --authfile": SameAs("inspect"),
    "layers --cert-dir": SameAs("inspect"),
    "layers --creds": SameAs("inspect"),
    "layers --daemon-host": SameAs("inspect"),
    "layers --no-creds": SameAs("inspect"),
    "layers --password": SameAs("inspect"),
    "layers --registry-token": SameAs("inspect"),
    "layers --retry-delay": SameAs("inspect"),
    "layers --retry-times": SameAs("inspect"),
    "layers --shared-blob-dir": SameAs("inspect"),
    "layers --tls-verify": SameAs("inspect"),
    "layers --username": SameAs("inspect"),
    # ------------------------------------------------------------------ list-tags
    "list-tags --authfile": D(TAGS_C, TAGS_C + " --authfile {auth}", "tokens"),
    "list-tags --creds": D(TAGS_C, TAGS_C + " --creds {user}:{pw}", "tokens"),
    "list-tags --username": D(TAGS_C, TAGS_C + " --username {user} --password {pw}", "tokens"),
    "list-tags --password": D(TAGS_C, TAGS_C + " --username {user} --password {pw}", "tokens"),
    "list-tags --registry-token": D(TAGS_C, TAGS_C + " --registry-token bogus", "tokens"),
    "list-tags --cert-dir": D("list-tags docker://{treg}/walk/img",
                              "list-tags --cert-dir {certs} docker://{treg}/walk/img"),
    "list-tags --tls-verify": D("list-tags docker://{treg}/walk/img",
                                "list-tags --tls-verify=false docker://{treg}/walk/img"),
    "list-tags --no-creds": D(TAGS_C + " --authfile {auth}", TAGS_C + " --authfile {auth} --no-creds", "tokens"),
    "list-tags --retry-times": D("list-tags docker://{dead_repo_name}",
                                 "list-tags --retry-times 1 --retry-delay 1ms docker://{dead_repo_name}", "stderr"),
    "list-tags --retry-delay": D("list-tags --retry-times 1 --retry-delay 100ms docker://{dead_repo_name}",
                                 "list-tags --retry-times 1 --retry-delay 200ms docker://{dead_repo_name}", "stderr"),
    # ------------------------------------------------------------------ login / logout
    "login --authfile": TestedIn("integration/test_docker_registry.py::test_basic_auth_creds_authfile_login_logout"),
    "login --compat-auth-file": TestedIn("integration/test_main_flags.py::test_compat_auth_file"),
    "login --cert-dir": D("login --authfile {out} -u {user} -p {pw} {treg}",
                          "login --authfile {out} --cert-dir {certs} -u {user} -p {pw} {treg}"),
    "login --username": D(LOGIN_C + " -p {pw}", LOGIN_C + " -p {pw} --username {user}"),
    "login --password": D(LOGIN_C + " -u {user}", LOGIN_C + " -u {user} --password {pw}"),
    "login --password-stdin": TestedIn(
        "integration/test_docker_registry.py::test_basic_auth_creds_authfile_login_logout"),
    "login --get-login": TestedIn("integration/test_docker_registry.py::test_basic_auth_creds_authfile_login_logout"),
    "login --verbose": D(LOGIN_C + " -u {user} -p {pw}", LOGIN_C + " -u {user} -p {pw} --verbose", "stdout"),
    "login --tls-verify": TestedIn("integration/test_docker_registry.py::test_basic_auth_creds_authfile_login_logout"),
    "logout --authfile": TestedIn("integration/test_docker_registry.py::test_basic_auth_creds_authfile_login_logout"),
    "logout --compat-auth-file": TestedIn("integration/test_main_flags.py::test_compat_auth_file"),
    "logout --all": TestedIn("integration/test_docker_registry.py::test_basic_auth_creds_authfile_login_logout"),
    "logout --tls-verify": Refused(("logout", "--tls-verify=maybe", "{reg}"), "tls-verify"),
    # ------------------------------------------------------------------ policy check
    "policy check --format": TestedIn(
        "integration/test_policy_check.py::test_global_flags_after_the_command_and_insecure_policy"),
    "policy check --authfile": D(CHECK_C, CHECK_C + " --authfile {auth}", "tokens"),
    "policy check --creds": D(CHECK_C, CHECK_C + " --creds {user}:{pw}", "tokens"),
    "policy check --username": D(CHECK_C, CHECK_C + " --username {user} --password {pw}", "tokens"),
    "policy check --password": D(CHECK_C, CHECK_C + " --username {user} --password {pw}", "tokens"),
    "policy check --registry-token": D(CHECK_C, CHECK_C + " --registry-token bogus", "tokens"),
    "policy check --cert-dir": D("policy check {timg}", "policy check --cert-dir {certs} {timg}"),
    "policy check --tls-verify": D("policy check {timg}", "policy check --tls-verify=false {timg}"),
    "policy check --no-creds": D(CHECK_C + " --authfile {auth}", CHECK_C + " --authfile {auth} --no-creds", "tokens"),
    "policy check --shared-blob-dir": D("policy check oci:{layout}:v1",
                                        "policy check --shared-blob-dir {blobs} oci:{layout}:v1"),
    "policy check --daemon-host": D(f"policy check {DAEMON}", f"policy check --daemon-host {{nosock}} {DAEMON}",
                                    "stderr"),
    "policy check --retry-times": D("policy check {dead}", "policy check --retry-times 1 --retry-delay 1ms {dead}",
                                    "stderr"),
    "policy check --retry-delay": D("policy check --retry-times 1 --retry-delay 100ms {dead}",
                                    "policy check --retry-times 1 --retry-delay 200ms {dead}", "stderr"),
    # ------------------------------------------------------------------ standalone-sign / -verify
    "standalone-sign --output": TestedIn(
        "integration/test_gpg_plumbing.py::test_skopeo_signs_and_verifies_with_fixture_keys"),
    "standalone-sign --passphrase-file": TestedIn(
        "integration/test_gpg_plumbing.py::test_skopeo_signs_and_verifies_with_fixture_keys"),
    "standalone-verify --public-key-file": TestedIn("integration/test_policy_cli.py::test_standalone_verify_fixtures"),
    # ------------------------------------------------------------------ sync
    "sync --authfile": D(SYNC_PULL_C, SYNC_PULL_C + " --authfile {auth}", "tokens"),
    "sync --src-authfile": D(SYNC_PULL_C, SYNC_PULL_C + " --src-authfile {auth}", "tokens"),
    "sync --src-creds": D(SYNC_PULL_C, SYNC_PULL_C + " --src-creds {user}:{pw}", "tokens"),
    "sync --screds": TestedIn("integration/test_main_flags.py::test_screds_dcreds_side_by_side"),
    "sync --src-username": D(SYNC_PULL_C, SYNC_PULL_C + " --src-username {user} --src-password {pw}", "tokens"),
    "sync --src-password": D(SYNC_PULL_C, SYNC_PULL_C + " --src-username {user} --src-password {pw}", "tokens"),
    "sync --src-registry-token": D(SYNC_PULL_C, SYNC_PULL_C + " --src-registry-token bogus", "tokens"),
    "sync --src-cert-dir": D(SYNC_T, SYNC_T.replace("--dest dir", "--dest dir --src-cert-dir {certs}")),
    "sync --src-tls-verify": D(SYNC_T, SYNC_T.replace("--dest dir", "--dest dir --src-tls-verify=false")),
    "sync --src-no-creds": D(SYNC_PULL_C + " --authfile {auth}", SYNC_PULL_C + " --authfile {auth} --src-no-creds",
                             "tokens"),
    "sync --dest-authfile": D(SYNC_PUSH_C, SYNC_PUSH_C + " --dest-authfile {auth}"),
    "sync --dest-creds": D(SYNC_PUSH_C, SYNC_PUSH_C + " --dest-creds {user}:{pw}"),
    "sync --dcreds": TestedIn("integration/test_main_flags.py::test_screds_dcreds_side_by_side"),
    "sync --dest-username": D(SYNC_PUSH_C, SYNC_PUSH_C + " --dest-username {user} --dest-password {pw}"),
    "sync --dest-password": D(SYNC_PUSH_C, SYNC_PUSH_C + " --dest-username {user} --dest-password {pw}"),
    "sync --dest-registry-token": D(SYNC_PUSH_C + " --dest-creds {user}:{pw}",
                                    SYNC_PUSH_C + " --dest-creds {user}:{pw} --dest-registry-token bogus"),
    "sync --dest-cert-dir": D("sync -q --src dir --dest docker {src} {treg}/walk/synced-{n}",
                              "sync -q --src dir --dest docker --dest-cert-dir {certs} {src} {treg}/walk/synced-{n}"),
    "sync --dest-tls-verify": D("sync -q --src dir --dest docker {src} {treg}/walk/synced-{n}",
                                "sync -q --src dir --dest docker --dest-tls-verify=false {src} {treg}/walk/synced-{n}"),
    "sync --dest-no-creds": D(SYNC_PUSH_C + " --authfile {auth}", SYNC_PUSH_C + " --authfile {auth} --dest-no-creds"),
    "sync --retry-times": D("sync --src docker --dest dir {dead_repo} {out}",
                            "sync --src docker --dest dir --retry-times 1 --retry-delay 1ms {dead_repo} {out}",
                            "stderr"),
    "sync --retry-delay": D("sync --src docker --dest dir --retry-times 1 --retry-delay 100ms {dead_repo} {out}",
                            "sync --src docker --dest dir --retry-times 1 --retry-delay 200ms {dead_repo} {out}",
                            "stderr"),
    "sync --remove-signatures": SameAs("copy"),
    "sync --remove-list-signatures": SameAs("copy"),
    "sync --sign-by": SameAs("copy"),
    "sync --sign-by-sq-fingerprint": Refused(
        ("--insecure-policy", "sync", "--src", "dir", "--dest", "dir", "--sign-by-sq-fingerprint", "AB", "{src}",
         "{out}"), "--sign-by-sq-fingerprint is not supported"),
    "sync --sign-by-sigstore-private-key": SameAs("copy"),
    "sync --sign-by-sigstore": SameAs("copy"),
    "sync --sign-passphrase-file": SameAs("copy"),
    "sync --format": D("sync -q --src dir --dest oci {src} {out}",
                       "sync -q --src dir --dest oci --format v2s2 {src} {out}", "out"),
    "sync --preserve-digests": SameAs("copy"),
    "sync --all": TestedIn("integration/test_artifacts.py::test_buildx_index_sync_all_keeps_digests"),
    "sync --multi-arch": TestedIn("integration/test_platform_subsets.py::test_sync_with_a_platform_list"),
    "sync --strip-removed-platforms": TestedIn("integration/test_platform_subsets.py::test_sync_with_a_platform_list"),
    "sync --referrers": TestedIn("integration/test_referrers.py::test_sync_referrers"),
    "sync --src": TestedIn("integration/test_sync.py::test_sync_scoped_to_dir_then_dir_to_docker"),
    "sync --dest": TestedIn("integration/test_sync.py::test_sync_scoped_to_dir_then_dir_to_docker"),
    "sync --scoped": TestedIn("integration/test_sync.py::test_sync_scoped_to_dir_then_dir_to_docker"),
    "sync --append-suffix": TestedIn("integration/test_sync.py::test_sync_one_tag_with_suffix_and_digestfile"),
    "sync --digestfile": TestedIn("integration/test_sync.py::test_sync_one_tag_with_suffix_and_digestfile"),
    "sync --dry-run": TestedIn("integration/test_sync.py::test_dry_run_writes_nothing"),
    "sync --keep-going": TestedIn(
        "integration/test_sync.py::test_keep_going_past_a_broken_image_and_a_missing_repository"),
    "sync --parallel-images": Refused(("--insecure-policy", "sync", "--src", "dir", "--dest", "dir",
                                       "--parallel-images", "0", "{src}", "{out}"), "must be at least 1"),
    "sync --quiet": D("sync --src dir --dest oci {src} {out}", "sync --quiet --src dir --dest oci {src} {out}",
                      "stderr"),
    "sync --tls-verify": D(SYNC_T, "sync -q --src docker --dest dir --tls-verify=false {treg}/walk/img:v1 {out}"),
}


# ---------------------------------------------------------------- the command tree


def _command_tree() -> Any:
    from toolkit.cli.app import _build_command  # the tree `skopo` runs, every built-in command loaded

    return _build_command()


def _options(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option":
            longs = [o for o in param.opts if o.startswith("--")] or list(param.opts)
            yield f"{' '.join(path)} {longs[0]}", param
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _options(sub, (*path, name))


ALL_OPTIONS = dict(_options(_command_tree()))


def test_every_flag_has_an_entry() -> None:
    missing = sorted(set(ALL_OPTIONS) - set(FLAGS))
    stale = sorted(set(FLAGS) - set(ALL_OPTIONS))
    assert not missing, f"flags without an entry in FLAGS (add one): {missing}"
    assert not stale, f"entries for flags that do not exist: {stale}"


# ---------------------------------------------------------------- the world the checks run in


@dataclass
class World:
    values: dict[str, str]
    registry: RegistryServer  # the TLS one (its log shows user agents)
    issuer: TokenIssuer
    runner: SkopoRunner
    root: Path
    runs: int = 0

    def fill(self, argv: tuple[str, ...], out: Path) -> list[str]:
        """`argv` with the placeholders replaced; `{n}` is a new number for each call."""
        self.runs += 1
        return [arg.format(out=out, n=self.runs, **self.values) for arg in argv]


class _Unavailable(http.server.BaseHTTPRequestHandler):
    """A registry that answers 503 to everything: a failure `--retry-times` retries (a
    closed port is never retried: connection refused is not transient)."""

    def _answer(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tls_ca: CertificateAuthority) -> Iterator[World]:
    root = tmp_path_factory.mktemp("walk")
    unavailable = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=unavailable.serve_forever, daemon=True).start()
    dead = f"127.0.0.1:{unavailable.server_address[1]}"
    issuer = start_token_issuer(root / "issuer", users={USER: PASSWORD})
    registry = start_registry(root / "registry", extra_config=issuer.registry_config())
    tls_registry = start_registry(root / "tls-registry", tls=True, ca=tls_ca)
    try:
        runner = SkopoRunner(make_isolated_home(root / "home"))
        src = write_dir(build_image(fmt="oci", layer_count=1, layer_size=3000, seed=77), root / "src")
        text = tar_bytes({"walk.txt": b"every flag changes something " * 4000})
        csrc = write_dir(build_image(fmt="oci", layer_tars=[text], seed=78, compression="none"), root / "csrc")
        # A default policy that rejects everything, so that --insecure-policy is seen to matter.
        for config_home in {runner.env["XDG_CONFIG_HOME"], str(runner.home / ".config")}:
            policy = Path(config_home) / "containers" / "policy.json"
            policy.parent.mkdir(parents=True, exist_ok=True)
            policy.write_text(json.dumps({"default": [{"type": "reject"}]}))
            # The unavailable registry speaks plain HTTP: insecure for every command's checks.
            (policy.parent / "registries.conf").write_text(f'[[registry]]\nlocation = "{dead}"\ninsecure = true\n')
        certs = str(tls_ca.cert_dir)
        img = f"docker://{registry.host}/walk/img:v1"
        timg = f"docker://{tls_registry.host}/walk/img:v1"
        creds = f"{USER}:{PASSWORD}"
        for args in (("--dest-tls-verify=false", "--dest-creds", creds, img), ("--dest-cert-dir", certs, timg)):
            done = runner("--insecure-policy", "copy", "-q", *args[:-1], f"dir:{src}", args[-1])
            assert done.returncode == 0, describe_result(done)
        auth = root / "auth.json"
        token = base64.b64encode(creds.encode()).decode()
        auth.write_text(json.dumps({"auths": {registry.host: {"auth": token}}}))
        blobs = root / "blobs"
        done = runner("--insecure-policy", "copy", "-q", "--dest-shared-blob-dir", str(blobs), f"dir:{src}",
                      f"oci:{root / 'layout'}:v1")
        assert done.returncode == 0, describe_result(done)
        conf = root / "registries.conf"
        conf.write_text(f'[[registry]]\nlocation = "{tls_registry.host}"\ninsecure = true\n')
        values = {
            "reg": registry.host, "img": img, "treg": tls_registry.host, "timg": timg, "certs": certs,
            "auth": str(auth), "user": USER, "pw": PASSWORD,
            "src": str(src), "csrc": str(csrc), "layout": str(root / "layout"), "blobs": str(blobs), "conf": str(conf),
            "dead": f"docker://{dead}/walk/dead:v1", "dead_repo": f"{dead}/walk/dead:v1",
            "dead_repo_name": f"{dead}/walk/dead",
            "nosock": f"unix://{root / 'no-such.sock'}",
        }
        yield World(values, tls_registry, issuer, runner, root)
    finally:
        registry.stop()
        tls_registry.stop()
        issuer.stop()
        unavailable.shutdown()


def _observe(world: World, on: str, result: Any, out: Path, log_before: int) -> object:
    if on == "rc":
        return result.returncode
    if on == "stdout":
        return result.stdout
    if on == "stderr":
        return result.stderr.replace(str(world.root).encode(), b"<root>")
    if on == "out":
        return snapshot(out) if out.exists() else None
    if on == "blobs":
        blobs = out.with_name(out.name + "-blobs")
        return snapshot(blobs) if blobs.exists() else None
    if on == "tokens":
        return [(r.basic_auth, r.grant_type) for r in world.issuer.requests]
    if on == "log":
        text = world.registry.log_path.read_bytes()[log_before:]
        return text.count(b"walk-agent")
    raise AssertionError(f"unknown observable {on!r}")


def _reset(world: World, out: Path, *, deleting: bool = False) -> None:
    """Remove `out` (and `out-blobs`); for delete checks, put back what they delete: the
    registry image `walk/doomed:v1`, and `out` as an OCI layout with blobs in `out-blobs`."""
    for path in (out, out.with_name(out.name + "-blobs")):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if deleting:
        src = f"dir:{world.values['src']}"
        for args in (("--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}", src,
                      f"docker://{world.values['reg']}/walk/doomed:v1"),
                     ("--dest-cert-dir", world.values["certs"], src, f"docker://{world.values['treg']}/walk/doomed:v1"),
                     ("--dest-shared-blob-dir", f"{out}-blobs", src, f"oci:{out}:v1")):
            done = world.runner("--insecure-policy", "copy", "-q", *args)
            assert done.returncode == 0, describe_result(done)
    world.issuer.requests.clear()


#: Commands that ask the trust policy: run with --insecure-policy (the throwaway home has no
#: policy.json), except in the check of --insecure-policy itself.
_POLICY_COMMANDS = ("copy", "sync", "policy")


def _run(world: World, key: str, argv: tuple[str, ...], on: str, out: Path) -> tuple[object, Any]:
    _reset(world, out, deleting=argv[0] == "delete")
    args = world.fill(argv, out)
    if argv[0] in _POLICY_COMMANDS and key != " --insecure-policy":
        args = ["--insecure-policy", *args]
    log_before = world.registry.log_path.stat().st_size
    result = world.runner(*args, input=b"", timeout=120)
    assert b"Traceback" not in result.stderr or "--debug" in args, describe_result(result)
    return _observe(world, on, result, out, log_before), result


def _proxy_open(world: World, extra: tuple[str, ...], out: Path, image: str) -> tuple[bool, list[tuple[bool, str]]]:
    _reset(world, out)
    client = ProxyClient.start([sys.executable, "-m", "toolkit", "--insecure-policy"], env=world.runner.env,
                               extra_args=world.fill(extra, out), cwd=str(world.root))
    try:
        client.initialize()
        try:
            client.call("OpenImage", image)
            opened = True
        except ProxyCallError:
            opened = False
    finally:
        client.close()
    return opened, [(r.basic_auth, r.grant_type) for r in world.issuer.requests]


def _cases(kind: type) -> list[Any]:
    return [pytest.param(key, check, id=key.strip()) for key, check in FLAGS.items() if isinstance(check, kind)]


@pytest.mark.parametrize("key, check", _cases(Differs))
def test_flag_changes_something(world: World, key: str, check: Differs) -> None:
    out = world.root / "out"
    before, first = _run(world, key, check.base, check.on, out)
    after, second = _run(world, key, check.flagged, check.on, out)
    assert before != after, f"{key}: no difference in {check.on}\n{describe_result(first)}\n{describe_result(second)}"


@pytest.mark.parametrize("key, check", _cases(ProxyDiffers))
def test_proxy_flag_changes_something(world: World, key: str, check: ProxyDiffers) -> None:
    out = world.root / "out"
    image = world.values["timg" if check.on == "tls" else "img"]
    base = _proxy_open(world, check.base, out, image)
    flagged = _proxy_open(world, check.flagged, out, image)
    index = 1 if check.on == "tokens" else 0
    assert base[index] != flagged[index], f"{key}: {base} vs {flagged}"


@pytest.mark.parametrize("key, check", _cases(Refused))
def test_flag_is_refused_clearly(world: World, key: str, check: Refused) -> None:
    out = world.root / "out"
    _reset(world, out)
    result = world.runner(*world.fill(check.argv, out), input=b"")
    assert_clean_error(result, match=check.match)
    assert not out.exists()


def _test_source(test: str) -> str:
    path, _, name = test.partition("::")
    source = (TESTS / path).read_text()
    tree = ast.parse(source)
    constants = {
        target.id: node.value.value
        for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            text = ast.get_source_segment(source, node) or ""
            used = [value for key, value in constants.items() if key in text]
            return text + "\n" + "\n".join(used)
    raise AssertionError(f"{test}: no such test")


@pytest.mark.parametrize("key, check", _cases(TestedIn))
def test_flag_is_tested_elsewhere(key: str, check: TestedIn) -> None:
    """The named test exists and uses the flag (its long spelling, or the short one)."""
    flag = key.rsplit(" ", maxsplit=1)[-1]
    spellings = [flag.lstrip("-"), *(o for o in ALL_OPTIONS[key].opts if not o.startswith("--"))]
    text = _test_source(check.test)
    assert any(spelling in text for spelling in spellings), f"{check.test} does not use {flag}"


@pytest.mark.parametrize("key, check", _cases(SameAs))
def test_flag_is_the_same_as_another_commands(key: str, check: SameAs) -> None:
    flag = key.rsplit(" ", maxsplit=1)[-1]
    other_key = f"{check.command} {flag}"
    ours, theirs = ALL_OPTIONS[key], ALL_OPTIONS[other_key]
    assert (ours.opts, ours.secondary_opts, ours.help, ours.type.name) == (
        theirs.opts, theirs.secondary_opts, theirs.help, theirs.type.name)
    assert not isinstance(FLAGS[other_key], SameAs)


def test_proxy_shared_blob_dir(world: World) -> None:
    """The proxy opens an OCI layout whose blobs live in --shared-blob-dir only with it."""
    values = world.values
    for extra, expected in (((), False), (("--shared-blob-dir", values["blobs"]), True)):
        client = ProxyClient.start([sys.executable, "-m", "toolkit", "--insecure-policy"], env=world.runner.env,
                                   extra_args=extra, cwd=str(world.root))
        try:
            client.initialize()
            try:
                opened = client.call("OpenImage", f"oci:{values['layout']}:v1")
                client.call_piped("GetManifest", opened.value)
                got = True
            except ProxyCallError:
                got = False
        finally:
            client.close()
        assert got is expected


def test_proxy_daemon_host(world: World) -> None:
    """--daemon-host names the socket the proxy's docker-daemon: images are read from."""
    errors = []
    for extra in ((), ("--daemon-host", world.values["nosock"])):
        client = ProxyClient.start([sys.executable, "-m", "toolkit", "--insecure-policy"], env=world.runner.env,
                                   extra_args=extra, cwd=str(world.root))
        try:
            client.initialize()
            with pytest.raises(ProxyCallError) as caught:
                client.call("OpenImage", DAEMON)
            errors.append(caught.value.error)
        finally:
            client.close()
    assert errors[0] != errors[1] and "no-such.sock" in errors[1]
