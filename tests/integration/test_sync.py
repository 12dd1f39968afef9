"""`skopo sync` against two real registries, `dir:` trees and an OCI layout; interop with skopeo.

Covers: every tag of a repository, the YAML file (tag list + digest, regex, semver range),
scoped naming, `--all` with a multi-arch image, `--dry-run` writing nothing, `--keep-going`
past a broken image and a missing repository, the policy gate, and the "beyond skopeo"
promise that a second sync of an unchanged source transfers no manifest and no blob (the
registries' access logs are read). Interop: skopeo 1.9.3's `sync` and skopo's `sync`
produce the same destination names and digests from the same YAML file.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import requests

from helpers import (
    RegistryFactory,
    RegistryServer,
    Skopeo,
    SkopoRunner,
    assert_clean_error,
    describe_result,
    fatal_message,
)
from helpers.images import Format, build_image, build_multiarch, sha256_digest
from helpers.registry import get_manifest, push_image

pytestmark = pytest.mark.peer

PLAIN = ("--src-tls-verify=false", "--dest-tls-verify=false")
ACCESS_LINE = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/[^ ]*) HTTP/[0-9.]+" (\d{3})')


def ok(result: object) -> str:
    assert result.returncode == 0, describe_result(result)  # type: ignore[attr-defined]
    return result.stderr.decode()  # type: ignore[attr-defined,no-any-return]


def sync(run_skopo: SkopoRunner, *args: str | Path) -> object:
    return run_skopo("--insecure-policy", "sync", "-q", *args)


def tags(registry: RegistryServer, repo: str) -> list[str]:
    resp = requests.get(f"{registry.url}/v2/{repo}/tags/list", timeout=30)
    if resp.status_code == 404:
        return []
    assert resp.status_code == 200, resp.text
    return sorted(resp.json().get("tags") or [])


def digest_at(registry: RegistryServer, repo: str, tag: str) -> str:
    resp = get_manifest(registry, repo, tag)
    assert resp.status_code == 200, f"{repo}:{tag}: {resp.status_code} {resp.text}"
    return sha256_digest(resp.content)


def catalog(registry: RegistryServer) -> list[str]:
    resp = requests.get(f"{registry.url}/v2/_catalog", timeout=30)
    assert resp.status_code == 200
    return sorted(resp.json().get("repositories") or [])


def access(registry: RegistryServer, since: int = 0) -> list[tuple[str, str, str]]:
    """(method, path, status) of every /v2/ request the registry logged after byte `since`."""
    text = registry.log_path.read_bytes()[since:].decode("utf-8", errors="replace")
    return [(m.group(1), m.group(2), m.group(3)) for m in ACCESS_LINE.finditer(text)]


def log_size(registry: RegistryServer) -> int:
    return registry.log_path.stat().st_size


def push_tags(
    registry: RegistryServer, repo: str, names: list[str], *, seed: int, fmt: Format = "docker"
) -> dict[str, str]:
    """Push one small distinct image per tag; returns tag -> manifest digest."""
    out = {}
    for i, tag in enumerate(names):
        image = build_image(fmt=fmt, layer_count=2, layer_size=3000, seed=seed * 100 + i)
        out[tag] = push_image(registry, repo, tag, image)
    return out


@pytest.fixture
def two_registries(registry_factory: RegistryFactory) -> tuple[RegistryServer, RegistryServer]:
    return registry_factory(), registry_factory()


# ----------------------------------------------------------------- docker -> docker


def test_sync_repository_every_tag(
    run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    pushed = push_tags(src, "ns/app", ["1.0", "1.1", "latest"], seed=1)
    err = ok(sync(run_skopo, *PLAIN, "--src", "docker", "--dest", "docker", f"{src.host}/ns/app", f"{dst.host}/mirror"))
    assert tags(dst, "mirror/app") == ["1.0", "1.1", "latest"]
    for tag, digest in pushed.items():
        assert digest_at(dst, "mirror/app", tag) == digest
    assert "3 copied, 0 skipped, 0 failed" in err
    assert "Synced 3 images from 1 sources" in err


def test_sync_one_tag_with_suffix_and_digestfile(
    tmp_path: Path, run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    pushed = push_tags(src, "app", ["2.0", "3.0"], seed=2)
    digestfile = tmp_path / "digests"
    ok(sync(run_skopo, *PLAIN, "--src", "docker", "--dest", "docker", "--append-suffix", "-mirror",
            "--digestfile", digestfile, f"{src.host}/app:2.0", dst.host))
    assert tags(dst, "app") == ["2.0-mirror"]
    assert digestfile.read_text() == f"{pushed['2.0']} docker://{dst.host}/app:2.0-mirror\n"


def test_second_sync_transfers_no_manifest_and_no_blob(
    run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    push_tags(src, "ns/app", ["1", "2", "3"], seed=3)
    args = (*PLAIN, "--src", "docker", "--dest", "docker", f"{src.host}/ns/app", f"{dst.host}/mirror")
    ok(sync(run_skopo, *args))
    marks = log_size(src), log_size(dst)
    err = ok(sync(run_skopo, *args))
    assert "0 copied, 3 skipped, 0 failed" in err
    for registry, mark in zip((src, dst), marks, strict=True):
        requests_seen = access(registry, mark)
        transfers = [r for r in requests_seen if ("/blobs/" in r[1] or "/manifests/" in r[1]) and r[0] != "HEAD"]
        assert transfers == [], f"unexpected transfers at {registry.host}: {transfers}"
        heads = [r for r in requests_seen if r[0] == "HEAD" and "/manifests/" in r[1]]
        assert len(heads) == 3, requests_seen


def test_no_change_rerun_makes_one_manifest_head_per_tag_and_prints_in_order(
    run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    """The request budget of a sync whose destination is up to date: at the source one ping,
    one tag list and one manifest HEAD per tag; at the destination one ping and one HEAD per
    tag; nothing else. The tags are checked in parallel, yet the lines come in plan order."""
    src, dst = two_registries
    names = [f"v{i}" for i in range(12)]
    push_tags(src, "budget/app", names, seed=21)
    args = (*PLAIN, "--src", "docker", "--dest", "docker", f"{src.host}/budget/app", f"{dst.host}/m")
    ok(sync(run_skopo, *args))
    marks = log_size(src), log_size(dst)
    err = ok(sync(run_skopo, *args))
    seen_src, seen_dst = (access(r, m) for r, m in zip((src, dst), marks, strict=True))
    heads = sorted(f"/v2/budget/app/manifests/{t}" for t in names)
    assert sorted(r for r in seen_src if r[0] != "HEAD") == [
        ("GET", "/v2/", "200"), ("GET", "/v2/budget/app/tags/list", "200")
    ], seen_src
    assert sorted(r[1] for r in seen_src if r[0] == "HEAD") == heads, seen_src
    assert [r for r in seen_dst if r[0] != "HEAD"] == [("GET", "/v2/", "200")], seen_dst
    assert sorted(r[1] for r in seen_dst if r[0] == "HEAD") == sorted(
        f"/v2/m/app/manifests/{t}" for t in names
    ), seen_dst
    numbers = [int(n) for n in re.findall(r"^Skipping image ref (\d+)/12 ", err, re.MULTILINE)]
    assert numbers == list(range(1, 13)), err


REMOTE_ADDR = re.compile(r'http\.request\.remoteaddr="?([0-9.:\[\]a-f]+)')


def test_sync_pings_each_registry_once_and_reuses_connections(
    run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    """The images of one sync share each registry's ping, token and connection pool: one
    `GET /v2/` per registry, and far fewer connections than requests."""
    src, dst = two_registries
    push_tags(src, "shared/app", [f"t{i}" for i in range(8)], seed=9)
    marks = log_size(src), log_size(dst)
    ok(sync(run_skopo, *PLAIN, "--src", "docker", "--dest", "docker", f"{src.host}/shared/app", f"{dst.host}/m"))
    for registry, mark in zip((src, dst), marks, strict=True):
        seen = access(registry, mark)
        text = registry.log_path.read_bytes()[mark:].decode("utf-8", errors="replace")
        connections = set(REMOTE_ADDR.findall(text))
        assert [r for r in seen if r[1] == "/v2/"] == [("GET", "/v2/", "200")], seen
        assert len(seen) >= 24 and len(connections) <= len(seen) // 3, (len(seen), sorted(connections))


def test_sync_after_source_change_copies_only_the_changed_tag(
    run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    push_tags(src, "app", ["a", "b"], seed=4)
    args = (*PLAIN, "--src", "docker", "--dest", "docker", f"{src.host}/app", dst.host)
    ok(sync(run_skopo, *args))
    new = push_image(src, "app", "b", build_image(fmt="oci", layer_count=1, layer_size=999, seed=44))
    err = ok(sync(run_skopo, *args))
    assert "1 copied, 1 skipped, 0 failed" in err
    assert digest_at(dst, "app", "b") == new


# ----------------------------------------------------------------------------- YAML


def test_sync_yaml_tag_list_digest_regex_and_semver(
    tmp_path: Path, run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    listed = push_tags(src, "listed", ["1.0", "2.0", "3.0"], seed=5)
    push_tags(src, "byregex", ["1.13.1-alpine", "1.13.2-alpine", "1.13.3-alpine", "1.13.1"], seed=6)
    push_tags(src, "bysemver", ["v1.1.0", "1.2.0", "1.9.9", "2.0.0", "1.5.0-rc1", "latest"], seed=7)
    push_tags(src, "everything", ["x", "y"], seed=8)
    sync_file = tmp_path / "sync.yaml"
    sync_file.write_text(
        f"""
{src.host}:
  tls-verify: false
  images:
    listed: ["1.0", "{listed['3.0']}"]
    everything: []
  images-by-tag-regex:
    byregex: ^1\\.13\\.[12]-alpine$
  images-by-semver:
    bysemver: ">=1.1.0 <2"
"""
    )
    err = ok(sync(run_skopo, "--dest-tls-verify=false", "--src", "yaml", "--dest", "docker", sync_file, dst.host))
    assert tags(dst, "listed") == ["1.0"]
    # The digest reference keeps its digest at the destination (no tag).
    assert get_manifest(dst, "listed", listed["3.0"]).status_code == 200
    assert tags(dst, "byregex") == ["1.13.1-alpine", "1.13.2-alpine"]
    assert tags(dst, "bysemver") == ["1.2.0", "1.9.9", "v1.1.0"]
    assert tags(dst, "everything") == ["x", "y"]
    assert "9 copied, 0 skipped, 0 failed" in err


def test_sync_yaml_error_names_file_and_line(tmp_path: Path, run_skopo: SkopoRunner) -> None:
    sync_file = tmp_path / "bad.yaml"
    sync_file.write_text("registry.example.com:\n  images-by-semver:\n    alpine: '>== 1'\n")
    result = run_skopo("--insecure-policy", "sync", "--src", "yaml", "--dest", "dir", sync_file, tmp_path / "out")
    assert result.returncode == 1
    assert f"{sync_file}:3:" in result.stderr.decode(), describe_result(result)
    assert "Traceback" not in result.stderr.decode()
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------- dir and oci ends


def test_sync_scoped_to_dir_then_dir_to_docker(
    tmp_path: Path, run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    pushed = push_tags(src, "ns/app", ["1.0", "2.0"], seed=9)
    tree = tmp_path / "usb"
    ok(sync(run_skopo, "--src-tls-verify=false", "--src", "docker", "--dest", "dir", "--scoped",
            f"{src.host}/ns/app", tree))
    for tag, digest in pushed.items():
        image_dir = tree / src.host / "ns" / f"app:{tag}"
        assert sha256_digest((image_dir / "manifest.json").read_bytes()) == digest
    # dir -> docker: the path under SOURCE names the destination.
    ok(sync(run_skopo, "--dest-tls-verify=false", "--src", "dir", "--dest", "docker", "--scoped",
            tree / src.host, f"{dst.host}/restored"))
    assert tags(dst, "restored/ns/app") == ["1.0", "2.0"]
    assert digest_at(dst, "restored/ns/app", "2.0") == pushed["2.0"]
    # Unscoped, SOURCE being the image itself: its base name.
    ok(sync(run_skopo, "--dest-tls-verify=false", "--src", "dir", "--dest", "docker",
            tree / src.host / "ns" / "app:1.0", f"{dst.host}/single"))
    assert tags(dst, "single/app") == ["1.0"]


def test_dir_destination_refuses_other_content_and_skips_same(
    tmp_path: Path, run_skopo: SkopoRunner, registry_server: RegistryServer
) -> None:
    pushed = push_tags(registry_server, "sync-dirdest/app", ["1"], seed=10)
    args = ("--src-tls-verify=false", "--src", "docker", "--dest", "dir",
            f"{registry_server.host}/sync-dirdest/app", tmp_path / "out")
    ok(sync(run_skopo, *args))
    err = ok(sync(run_skopo, *args))
    assert "0 copied, 1 skipped, 0 failed" in err
    push_image(registry_server, "sync-dirdest/app", "1", build_image(layer_count=1, seed=1010))
    result = sync(run_skopo, *args)
    assert result.returncode == 1
    assert "Refusing to overwrite destination directory" in result.stderr.decode(), describe_result(result)
    assert sha256_digest((tmp_path / "out" / "app:1" / "manifest.json").read_bytes()) == pushed["1"]
    dirdir = run_skopo("--insecure-policy", "sync", "--src", "dir", "--dest", "dir", tmp_path / "out", tmp_path / "x")
    assert dirdir.returncode == 1
    assert "sync from 'dir' to 'dir' not implemented" in dirdir.stderr.decode()


def test_sync_all_multiarch_into_one_oci_layout(
    tmp_path: Path, run_skopo: SkopoRunner, registry_server: RegistryServer
) -> None:
    index = build_multiarch(fmt="oci", seed=11)
    push_image(registry_server, "sync-multi/app", "multi", index)
    # OCI: an OCI layout stores only OCI manifests (a Docker one would be converted, new digest).
    single = push_tags(registry_server, "sync-multi/other", ["1"], seed=12, fmt="oci")
    layout = tmp_path / "layout"
    for repo in ("sync-multi/app", "sync-multi/other"):
        ok(sync(run_skopo, "--src-tls-verify=false", "--src", "docker", "--dest", "oci", "--all",
                f"{registry_server.host}/{repo}", layout))
    entries = json.loads((layout / "index.json").read_bytes())["manifests"]
    by_name = {e["annotations"]["org.opencontainers.image.ref.name"]: e["digest"] for e in entries}
    assert by_name == {"app:multi": index.manifest_digest, "other:1": single["1"]}
    for image in index.images:
        assert (layout / "blobs" / "sha256" / image.manifest_hex).is_file()
    # Again: nothing to do.
    err = ok(sync(run_skopo, "--src-tls-verify=false", "--src", "docker", "--dest", "oci", "--all",
                  f"{registry_server.host}/sync-multi/app", layout))
    assert "0 copied, 1 skipped" in err


def test_sync_multiarch_without_all_copies_this_platform_and_then_skips(
    tmp_path: Path, run_skopo: SkopoRunner, registry_server: RegistryServer
) -> None:
    index = build_multiarch(fmt="docker", seed=13)
    push_image(registry_server, "sync-multi2/app", "m", index)
    args = ("--override-arch", "arm64", "--override-variant", "v8", "--src-tls-verify=false", "--src", "docker",
            "--dest", "dir", f"{registry_server.host}/sync-multi2/app", tmp_path / "out")
    ok(sync(run_skopo, *args))
    manifest = (tmp_path / "out" / "app:m" / "manifest.json").read_bytes()
    assert manifest == index.image_for("arm64").manifest
    err = ok(sync(run_skopo, *args))
    assert "0 copied, 1 skipped" in err


# ------------------------------------------------------------------ dry run, failures


def test_dry_run_writes_nothing(
    tmp_path: Path, run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    push_tags(src, "app", ["1", "2"], seed=14)
    for dest_kind, destination in (("docker", dst.host), ("dir", str(tmp_path / "d")), ("oci", str(tmp_path / "o"))):
        err = ok(sync(run_skopo, *PLAIN, "--dry-run", "--digestfile", tmp_path / "digests", "--src", "docker",
                      "--dest", dest_kind, f"{src.host}/app", destination))
        assert err.count("Would have copied image ref") == 2, err
        assert "Would have synced 2 images from 1 sources" in err
    assert catalog(dst) == []
    assert not (tmp_path / "d").exists() and not (tmp_path / "o").exists()
    assert not (tmp_path / "digests").exists()
    assert [r for r in access(dst) if r[0] != "GET" or r[1] != "/v2/"] == [r for r in access(dst) if "_catalog" in r[1]]


def _break_blob(registry: RegistryServer, digest: str) -> None:
    hexpart = digest.split(":", 1)[1]
    data = registry.storage_dir / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexpart[:2] / hexpart
    shutil.rmtree(data)


def test_keep_going_past_a_broken_image_and_a_missing_repository(
    tmp_path: Path, run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    push_tags(src, "app", ["good1", "good2"], seed=15)
    broken = build_image(fmt="docker", layer_count=2, layer_size=4000, seed=1599)
    push_image(src, "app", "broken", broken)
    _break_blob(src, broken.layers[1].digest)
    sync_file = tmp_path / "sync.yaml"
    sync_file.write_text(f"{src.host}:\n  tls-verify: false\n  images:\n    app: []\n    missing: []\n")
    result = sync(run_skopo, "--dest-tls-verify=false", "--keep-going", "--parallel-images", "2",
                  "--src", "yaml", "--dest", "docker", sync_file, dst.host)
    err = result.stderr.decode()
    assert result.returncode == 1, describe_result(result)
    assert "Error copying ref" in err and "app:broken" in err
    assert 'Error processing repo' in err and "missing" in err
    assert "2 copied, 0 skipped, 2 failed" in err
    assert fatal_message(err.rstrip().splitlines()[-1]) == (
        "Sync failed due to previous reported error(s) for one or more images")
    assert tags(dst, "app") == ["good1", "good2"]
    assert "Traceback" not in err
    # Without --keep-going the first failure stops the sync with skopeo's message.
    result = sync(run_skopo, "--dest-tls-verify=false", "--parallel-images", "1", "--src", "docker",
                  "--dest", "docker", f"{src.host}/app:broken", dst.host)
    assert result.returncode != 0
    last = fatal_message(result.stderr.decode().rstrip().splitlines()[-1])
    assert re.match(r'Error copying ref "docker://[^"]+/app:broken"', last), describe_result(result)


def test_missing_repository_is_an_error_for_docker_source(
    run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    result = sync(run_skopo, *PLAIN, "--src", "docker", "--dest", "docker", f"{src.host}/nothing-here", dst.host)
    assert result.returncode != 0
    assert "nothing-here" in result.stderr.decode(), describe_result(result)
    assert "Traceback" not in result.stderr.decode()


def test_every_copy_goes_through_the_policy_gate(
    tmp_path: Path, run_skopo: SkopoRunner, two_registries: tuple[RegistryServer, RegistryServer]
) -> None:
    src, dst = two_registries
    push_tags(src, "app", ["1"], seed=16)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"docker": {src.host: [{"type": "reject"}]}},
    }))
    result = run_skopo("--policy", policy, "sync", "-q", *PLAIN, "--src", "docker", "--dest", "docker",
                       f"{src.host}/app", dst.host)
    assert result.returncode == 1, describe_result(result)
    assert "rejected" in result.stderr.decode().lower(), describe_result(result)
    assert catalog(dst) == []


def test_bad_transports_are_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    result = run_skopo("--insecure-policy", "sync", "--dest", "docker", "a", "b")
    assert b"A source transport must be specified" in result.stderr
    result = run_skopo("--insecure-policy", "sync", "--src", "docker", "--dest", "tarball", "a", "b")
    assert '"tarball" is not a valid destination transport' in assert_clean_error(result)
    result = run_skopo("--insecure-policy", "sync", "--src", "dir", "--dest", "docker", tmp_path / "none", "b")
    assert b"Invalid source directory specified" in result.stderr


# ---------------------------------------------------------------------------- interop


def test_same_names_and_digests_as_skopeo_from_one_yaml(
    tmp_path: Path,
    run_skopo: SkopoRunner,
    skopeo: Skopeo,
    registry_factory: RegistryFactory,
) -> None:
    src, ours, theirs = registry_factory(), registry_factory(), registry_factory()
    listed = push_tags(src, "ns/listed", ["1.0", "2.0"], seed=17)
    push_tags(src, "ns/byregex", ["a1", "a2", "b1"], seed=18)
    push_image(src, "multi", "m", build_multiarch(fmt="docker", seed=19))
    push_tags(src, "all", ["t1", "t2"], seed=20)
    sync_file = tmp_path / "sync.yaml"
    sync_file.write_text(
        f"""{src.host}:
  tls-verify: false
  images:
    ns/listed: ["1.0", "{listed['2.0']}"]
    all: []
    multi: [m]
  images-by-tag-regex:
    ns/byregex: "^a"
"""
    )
    skopeo.run("sync", "--dest-tls-verify=false", "--src", "yaml", "--dest", "docker", str(sync_file),
               f"{theirs.host}/m")
    ok(sync(run_skopo, "--dest-tls-verify=false", "--src", "yaml", "--dest", "docker", sync_file, f"{ours.host}/m"))
    for scoped in ((), ("--scoped",)):
        skopeo.run("sync", *scoped, "--src", "yaml", "--dest", "dir", str(sync_file),
                   str(tmp_path / f"theirs{len(scoped)}"))
        ok(sync(run_skopo, *scoped, "--src", "yaml", "--dest", "dir", sync_file, tmp_path / f"ours{len(scoped)}"))
    # Scoped names keep the source's host:port, which is not a valid repository path: both refuse.
    theirs_err = skopeo.run("sync", "--scoped", "--src", "yaml", "--dest", "docker", str(sync_file),
                            f"{theirs.host}/s", check=False).stderr.decode()
    ours_err = sync(run_skopo, "--scoped", "--src", "yaml", "--dest", "docker", sync_file, f"{ours.host}/s")
    assert ours_err.returncode == 1  # type: ignore[attr-defined]
    for err in (theirs_err, ours_err.stderr.decode()):  # type: ignore[attr-defined]
        assert 'Cannot obtain a valid image reference for transport \\"docker\\"' in err or \
            'Cannot obtain a valid image reference for transport "docker"' in err, err
    assert catalog(ours) == catalog(theirs)
    for repo in catalog(theirs):
        assert tags(ours, repo) == tags(theirs, repo), repo
        for tag in tags(theirs, repo):
            assert digest_at(ours, repo, tag) == digest_at(theirs, repo, tag), f"{repo}:{tag}"
    for n in (0, 1):
        theirs_root, ours_root = tmp_path / f"theirs{n}", tmp_path / f"ours{n}"
        theirs_tree = sorted(p.relative_to(theirs_root) for p in theirs_root.rglob("manifest.json"))
        ours_tree = sorted(p.relative_to(ours_root) for p in ours_root.rglob("manifest.json"))
        assert ours_tree == theirs_tree
        for rel in theirs_tree:
            assert (tmp_path / f"ours{n}" / rel).read_bytes() == (tmp_path / f"theirs{n}" / rel).read_bytes(), rel
