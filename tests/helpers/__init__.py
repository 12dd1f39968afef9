"""Shared test helpers (importable as `helpers`: tests/ is on sys.path via tests/conftest.py).

- `helpers.images`: build images in pure Python; write `dir:` and OCI layouts.
- `helpers.registry`: start `docker-registry` (plain, TLS, htpasswd); push/get via the API.
- `helpers.peers`: skopeo, gpg and podman wrappers.
- `helpers.cli`: run skopo in a subprocess; `assert_clean_error`.
- `helpers.certs`: the one X.509 builder (`build_certificate`) for every test certificate.
- `helpers.sigstore_fixtures`: where the sigstore fixtures are and the identities they were signed with.
- `helpers.transfer`: images through one transport's source/destination API (`put_image`,
  `read_image`, `blob_info`, `exploding`).
- `helpers.tls`, `helpers.proc`, `helpers.env`: TLS CA and server certificates, processes, environments.
"""

from helpers.cli import SkopoRunner, assert_clean_error, describe_result, fatal_message
from helpers.env import IsolatedHome, make_isolated_home, merge_env
from helpers.peers import GnupgHome, PeerCommandError, PodmanService, Skopeo
from helpers.registry import RegistryFactory, RegistryServer

__all__ = [
    "GnupgHome",
    "IsolatedHome",
    "PeerCommandError",
    "PodmanService",
    "RegistryFactory",
    "RegistryServer",
    "Skopeo",
    "SkopoRunner",
    "assert_clean_error",
    "describe_result",
    "fatal_message",
    "make_isolated_home",
    "merge_env",
]
