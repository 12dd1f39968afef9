"""The registry client's request path against a real registry: what is trusted over TLS,
which URL a response carries, and that HEAD probes keep one connection.

The per-request shortcuts of `toolkit.transports.docker._client` must give exactly what
requests' own preparation gives; these tests compare with it, and check that the trust
store of a verified connection is the registry's SSL context alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from requests.models import PreparedRequest

from helpers import RegistryFactory, RegistryServer, SkopoRunner, describe_result
from helpers.images import build_image, write_dir

pytestmark = pytest.mark.peer

_REMOTE_ADDR = re.compile(r'http\.request\.remoteaddr="?([0-9.:\[\]a-f]+)')


def _push(run_skopo: SkopoRunner, tmp_path: Path, where: list[str], ref: str) -> None:
    image = build_image(fmt="oci", layer_count=1, layer_size=2000, seed=83)
    result = run_skopo("--insecure-policy", "copy", "-q", *where, f"dir:{write_dir(image, tmp_path / 'src')}", ref)
    assert result.returncode == 0, describe_result(result)


def test_verified_tls_trusts_the_context_only(
    tmp_path: Path, registry_factory: RegistryFactory, run_skopo: SkopoRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verified connection is checked against the registry's SSL context (system store
    plus its certs.d CA): no CA bundle is loaded into that context per connection (requests
    would name certifi's), and a registry whose CA is not given is still refused."""
    from toolkit.errors import ToolkitError
    from toolkit.transports.docker import _client
    from toolkit.transports.docker._client import RegistryClient
    from toolkit.types import SystemContext

    reg = registry_factory(tls=True)
    assert reg.cert_dir is not None
    _push(run_skopo, tmp_path, ["--dest-cert-dir", str(reg.cert_dir)], f"docker://{reg.host}/trust/img:v1")
    loads: list[Any] = []
    real_new_context = _client._new_ssl_context

    def spied_context(*args: Any, **kwargs: Any) -> Any:
        context = real_new_context(*args, **kwargs)
        real_load = context.load_verify_locations

        def load(*a: Any, **k: Any) -> None:
            loads.append((a, k))
            real_load(*a, **k)

        context.load_verify_locations = load  # type: ignore[method-assign]
        return context

    monkeypatch.setattr(_client, "_new_ssl_context", spied_context)
    monkeypatch.setattr(_client, "_LINKS", {})
    monkeypatch.setattr(_client, "_SSL_CONTEXTS", {})
    client = RegistryClient(SystemContext(cert_dir=reg.cert_dir), reg.host, scopes=["repository:trust/img:pull"])
    for _ in range(2):
        resp = client.request("GET", "/v2/")
        assert resp.status_code == 200
        resp.close()
    assert loads == []

    stranger = RegistryClient(SystemContext(cert_dir=tmp_path), reg.host)
    with pytest.raises(ToolkitError, match="(?i)certificate"):
        stranger.request("GET", "/v2/")


@pytest.mark.parametrize("tag", ["v1", "V.1-x_y", "a" * 128])
def test_response_url_is_what_requests_prepares(registry_server: RegistryServer, tag: str) -> None:
    """The URL a response carries for a path under the registry is requests' own
    preparation of it, however the request was prepared."""
    from toolkit.transports.docker._client import RegistryClient
    from toolkit.types import OptionalBool, SystemContext

    client = RegistryClient(SystemContext(tls_verify=OptionalBool.FALSE), registry_server.host)
    path = f"/v2/prep/img/manifests/{tag}"
    resp = client.request("HEAD", path)
    resp.close()
    expected = PreparedRequest()
    expected.prepare_url(client.base_url + path, None)
    assert resp.status_code == 404
    assert resp.url == expected.url


def test_probes_share_one_connection(registry: RegistryServer, tmp_path: Path, run_skopo: SkopoRunner) -> None:
    """Many HEADs of one repository through `ManifestProbe` ping once and come over one
    connection (the HEAD responses, bodiless, give their connection back)."""
    from toolkit.reference import parse_normalized_named
    from toolkit.transports.docker import ManifestProbe
    from toolkit.types import OptionalBool, SystemContext

    _push(run_skopo, tmp_path, ["--dest-tls-verify=false"], f"docker://{registry.host}/probe/img:v1")
    mark = registry.log_path.stat().st_size
    with ManifestProbe(SystemContext(tls_verify=OptionalBool.FALSE)) as probe:
        found = [probe.manifest(parse_normalized_named(f"{registry.host}/probe/img:{t}")) for t in ("v1", "v2") * 5]
    assert [f is not None for f in found] == [True, False] * 5
    text = registry.log_path.read_bytes()[mark:].decode("utf-8", errors="replace")
    assert len(set(_REMOTE_ADDR.findall(text))) == 1, text[-3000:]
    assert text.count('"GET /v2/ ') <= 2  # an https attempt, then http


def test_netrc_is_never_read(tmp_path: Path, registry_factory: RegistryFactory, run_skopo: SkopoRunner) -> None:
    """containers/image has no .netrc: a registry that wants credentials gets none from
    ~/.netrc or $NETRC (requests' Session would send them), and the right credentials
    given the usual way work."""
    reg = registry_factory(htpasswd=("ann", "s3cret"))
    host = reg.host.split(":", 1)[0]
    netrc = f"machine {host}\nlogin ann\npassword s3cret\n"
    (run_skopo.home / ".netrc").write_text(netrc)
    (tmp_path / "netrc").write_text(netrc)
    (run_skopo.home / ".netrc").chmod(0o600)
    ref = f"docker://{reg.host}/netrc/img:v1"
    refused = run_skopo("inspect", "--tls-verify=false", ref, env={"NETRC": str(tmp_path / "netrc")})
    assert refused.returncode != 0
    assert b"unauthorized" in refused.stderr.lower() or b"authentication required" in refused.stderr.lower(), (
        describe_result(refused)
    )
    missing = run_skopo("inspect", "--tls-verify=false", "--creds", "ann:s3cret", ref)
    assert b"manifest unknown" in missing.stderr.lower() or b"not found" in missing.stderr.lower(), (
        describe_result(missing)
    )
