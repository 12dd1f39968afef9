"""`--referrers`: an image copied together with everything that refers to it (OCI 1.1 `subject`,
and cosign's `.sig`/`.att`/`.sbom` tags), and `inspect --referrers`.

The fixture image has two referrers (an SBOM and a signature), a signature on the SBOM, and
a cosign `.sig` tag. Against the real docker-registry (no referrers API: the referrers tag
schema is used for real) and, for the API path, the fault proxy answering the referrers
endpoint as the distribution spec defines it; both ways with `oci:` layouts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.artifacts import cosign_signature, descriptor_of, sbom_for, signature_for
from helpers.fault_proxy import FaultProxy, ProxyRequest, Reply
from helpers.images import OCI_REF_NAME, BuiltImage, build_image, write_dir, write_oci_layout
from helpers.referrers_api import ReferrersApi
from helpers.registry import RegistryServer, get_manifest, push_image, push_manifest
from helpers.trees import leftovers, snapshot

PLAIN = ("--src-tls-verify=false", "--dest-tls-verify=false")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class Tree:
    """An image and what refers to it."""

    image: BuiltImage
    sbom: BuiltImage
    signature: BuiltImage
    sbom_signature: BuiltImage
    cosign_tag: str
    cosign: BuiltImage

    @property
    def referrers(self) -> tuple[BuiltImage, ...]:
        return (self.sbom, self.signature, self.sbom_signature)


def make_tree(seed: int = 0) -> Tree:
    image = build_image(fmt="oci", seed=seed + 40, indent=None)
    sbom = sbom_for(image, seed=seed)
    tag, cosign = cosign_signature(image)
    return Tree(image, sbom, signature_for(image, seed=seed), signature_for(sbom, seed=seed + 1), tag, cosign)


def write_tree_layout(tree: Tree, path: Path, ref: str = "v1") -> Path:
    """The tree in an OCI layout as skopo (and oras) keep it: referrers as untagged entries."""
    write_oci_layout(tree.image, path, ref)
    for referrer in tree.referrers:
        write_oci_layout(referrer, path, None)
    write_oci_layout(tree.cosign, path, tree.cosign_tag)
    return path


def layout_entries(path: Path) -> list[dict[str, object]]:
    manifests: list[dict[str, object]] = json.loads((path / "index.json").read_bytes())["manifests"]
    return manifests


def assert_tree_in_layout(tree: Tree, path: Path, ref: str = "v1") -> None:
    entries = layout_entries(path)
    by_digest = {e["digest"]: e for e in entries}
    assert by_digest[tree.image.manifest_digest]["annotations"] == {OCI_REF_NAME: ref}
    blobs = path / "blobs" / "sha256"
    for referrer in (*tree.referrers, tree.cosign):
        assert (blobs / referrer.manifest_hex).read_bytes() == referrer.manifest
        for digest, data in referrer.blobs().items():
            assert (blobs / digest[7:]).read_bytes() == data
    for referrer in tree.referrers:
        entry = by_digest[referrer.manifest_digest]
        assert OCI_REF_NAME not in (entry.get("annotations") or {})
    cosign_entry = by_digest[tree.cosign.manifest_digest]
    assert cosign_entry["annotations"] == {OCI_REF_NAME: tree.cosign_tag}


def copy_ok(run_skopo: SkopoRunner, *args: str | Path) -> None:
    result = run_skopo("--insecure-policy", "copy", "-q", *args)
    assert result.returncode == 0, describe_result(result)


# ---------------------------------------------------------------- local layouts


def test_oci_to_oci_copies_the_whole_tree(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    tree = make_tree()
    src = write_tree_layout(tree, tmp_path / "src")
    copy_ok(run_skopo, "--referrers", f"oci:{src}:v1", f"oci:{tmp_path / 'dst'}:v1")
    assert_tree_in_layout(tree, tmp_path / "dst")
    # Without --referrers only the image is copied (as skopeo does).
    copy_ok(run_skopo, f"oci:{src}:v1", f"oci:{tmp_path / 'plain'}:v1")
    assert [e["digest"] for e in layout_entries(tmp_path / "plain")] == [tree.image.manifest_digest]


def test_inspect_referrers_json_and_tree(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    tree = make_tree(seed=1)
    src = write_tree_layout(tree, tmp_path / "src")
    result = run_skopo("inspect", "--referrers", f"oci:{src}:v1")
    assert result.returncode == 0, describe_result(result)
    doc = json.loads(result.stdout)
    assert doc["Digest"] == tree.image.manifest_digest
    listed = {r["Digest"]: r for r in doc["Referrers"]}
    assert set(listed) == {tree.sbom.manifest_digest, tree.signature.manifest_digest, tree.cosign.manifest_digest}
    sbom = listed[tree.sbom.manifest_digest]
    assert sbom["ArtifactType"] == "application/spdx+json"
    assert sbom["Size"] == len(tree.sbom.manifest)
    assert sbom["Annotations"] == {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    assert [r["Digest"] for r in sbom["Referrers"]] == [tree.sbom_signature.manifest_digest]
    assert listed[tree.cosign.manifest_digest]["Tag"] == tree.cosign_tag
    result = run_skopo("inspect", "--referrers", "--tree", f"oci:{src}:v1")
    assert result.returncode == 0, describe_result(result)
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith(tree.image.manifest_digest)
    assert any(line.startswith("│   └── " + tree.sbom_signature.manifest_digest) for line in lines), lines
    assert len(lines) == 5


def test_referrers_of_a_changed_image_are_refused_before_writing(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    tree = make_tree(seed=2)
    src = write_tree_layout(tree, tmp_path / "src")
    before = snapshot(tmp_path)
    result = run_skopo("--insecure-policy", "copy", "-q", "--referrers", "--dest-compress-format", "zstd",
                       f"oci:{src}:v1", f"oci:{tmp_path / 'dst'}:v1")
    assert_clean_error(result, match="Referrers name it by its digest")
    assert snapshot(tmp_path) == before


def test_a_destination_without_referrers_is_refused_before_writing(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    tree = make_tree(seed=3)
    src = write_tree_layout(tree, tmp_path / "src")
    result = run_skopo("--insecure-policy", "copy", "-q", "--referrers", f"oci:{src}:v1", f"dir:{tmp_path / 'd'}")
    assert_clean_error(result, match="the dir transport cannot store the referrers")
    assert not (tmp_path / "d").exists()
    write_dir(tree.image, tmp_path / "dirsrc")
    result = run_skopo("inspect", "--referrers", f"dir:{tmp_path / 'dirsrc'}")
    assert_clean_error(result, match="the dir transport cannot list referrers")


@pytest.mark.parametrize("case", ["wrong-subject", "tag-index-not-an-index", "loop"])
def test_hostile_referrers_in_a_layout(run_skopo: SkopoRunner, tmp_path: Path, case: str) -> None:
    tree = make_tree(seed=4)
    src = write_oci_layout(tree.image, tmp_path / "src", "v1")
    tag = "sha256-" + tree.image.manifest_hex
    if case == "wrong-subject":
        # regctl's referrers index lists a manifest whose subject is another image.
        other = signature_for(build_image(fmt="oci", seed=99))
        write_oci_layout(other, src, None)
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [descriptor_of(other)]}
        _write_index_tag(src, index, tag)
        match = "names another subject"
    elif case == "tag-index-not-an-index":
        write_oci_layout(tree.sbom, src, tag)  # the referrers tag holds a manifest, not an index
        match = None
    else:
        # A refers to the image, B to A, and the index tagged for A lists the image itself.
        write_oci_layout(tree.sbom, src, None)
        write_oci_layout(tree.sbom_signature, src, None)
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [descriptor_of(tree.image)]}
        _write_index_tag(src, index, "sha256-" + tree.sbom_signature.manifest_hex)
        match = ""
    dest = tmp_path / "dst"
    result = run_skopo("--insecure-policy", "copy", "-q", "--referrers", f"oci:{src}:v1", f"oci:{dest}:v1",
                       timeout=60)
    if match is None:
        # A manifest under the referrers tag is simply not a referrers index: nothing to follow.
        assert result.returncode == 0, describe_result(result)
        return
    if case == "loop":
        # The loop is cut: each manifest is copied once, and the copy ends.
        assert result.returncode == 0, describe_result(result)
        digests = [e["digest"] for e in layout_entries(dest)]
        assert sorted(digests) == sorted(
            [tree.image.manifest_digest, tree.sbom.manifest_digest, tree.sbom_signature.manifest_digest]
        )
        return
    assert_clean_error(result, match=match)
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def _write_index_tag(layout: Path, index: dict[str, object], tag: str) -> None:
    import hashlib

    raw = json.dumps(index, separators=(",", ":")).encode()
    digest = hashlib.sha256(raw).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(raw)
    doc = json.loads((layout / "index.json").read_bytes())
    doc["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": f"sha256:{digest}",
                             "size": len(raw), "annotations": {OCI_REF_NAME: tag}})
    (layout / "index.json").write_bytes(json.dumps(doc).encode())


# ---------------------------------------------------------------- registries


def push_tree(registry: RegistryServer, repo: str, tree: Tree) -> None:
    """The tree in a registry without the referrers API, as a client following the spec
    leaves it: the image by tag, each referrer by digest, one referrers tag schema index per
    subject, and the cosign tag."""
    push_image(registry, repo, "v1", tree.image)
    for referrer in tree.referrers:
        push_image(registry, repo, referrer.manifest_digest, referrer)
    for subject, referrers in ((tree.image, (tree.sbom, tree.signature)), (tree.sbom, (tree.sbom_signature,))):
        index = _referrers_index(referrers)
        push_manifest(registry, repo, "sha256-" + subject.manifest_hex, index, OCI_INDEX)
    push_image(registry, repo, tree.cosign_tag, tree.cosign)


def _referrers_index(referrers: tuple[BuiltImage, ...]) -> bytes:
    entries = []
    for referrer in referrers:
        doc = json.loads(referrer.manifest)
        entry = {**descriptor_of(referrer), "artifactType": doc.get("artifactType") or doc["config"]["mediaType"]}
        if doc.get("annotations"):
            entry["annotations"] = doc["annotations"]
        entries.append(entry)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()


def tag_index(registry: RegistryServer, repo: str, subject: BuiltImage) -> list[dict[str, object]] | None:
    response = get_manifest(registry, repo, "sha256-" + subject.manifest_hex, accept=OCI_INDEX)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    manifests: list[dict[str, object]] = response.json()["manifests"]
    return manifests


def assert_tree_in_registry(registry: RegistryServer, repo: str, tree: Tree, *, tag_schema: bool) -> None:
    assert get_manifest(registry, repo, "v1").content == tree.image.manifest
    for referrer in (*tree.referrers, tree.cosign):
        assert get_manifest(registry, repo, referrer.manifest_digest).content == referrer.manifest
    assert get_manifest(registry, repo, tree.cosign_tag).content == tree.cosign.manifest
    listed = tag_index(registry, repo, tree.image)
    if not tag_schema:
        assert listed is None, "a registry with the referrers API keeps them itself"
        return
    assert listed is not None
    assert sorted(e["digest"] for e in listed) == sorted([tree.sbom.manifest_digest, tree.signature.manifest_digest])
    sbom_entry = next(e for e in listed if e["digest"] == tree.sbom.manifest_digest)
    assert sbom_entry["artifactType"] == "application/spdx+json"
    assert sbom_entry["annotations"] == {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    on_sbom = tag_index(registry, repo, tree.sbom)
    assert on_sbom is not None and [e["digest"] for e in on_sbom] == [tree.sbom_signature.manifest_digest]


def test_registry_tag_schema_both_ways_with_oci(
    run_skopo: SkopoRunner, registry: RegistryServer, skopeo: Skopeo, tmp_path: Path
) -> None:
    tree = make_tree(seed=10)
    push_tree(registry, "tree/src", tree)
    copy_ok(run_skopo, *PLAIN, "--referrers", f"docker://{registry.host}/tree/src:v1", f"oci:{tmp_path / 'l'}:v1")
    assert_tree_in_layout(tree, tmp_path / "l")
    copy_ok(run_skopo, *PLAIN, "--referrers", f"oci:{tmp_path / 'l'}:v1", f"docker://{registry.host}/tree/dst:v1")
    assert_tree_in_registry(registry, "tree/dst", tree, tag_schema=True)
    # registry -> registry, and a second copy adds nothing twice.
    for _ in range(2):
        copy_ok(run_skopo, *PLAIN, "--referrers", f"docker://{registry.host}/tree/src:v1",
                f"docker://{registry.host}/tree/again:v1")
    assert_tree_in_registry(registry, "tree/again", tree, tag_schema=True)
    # skopeo 1.9.3 reads every referrer skopo wrote, byte for byte.
    for referrer in tree.referrers:
        got = skopeo.run("inspect", "--raw", "--tls-verify=false",
                         f"docker://{registry.host}/tree/dst@{referrer.manifest_digest}").stdout
        assert got == referrer.manifest


def test_registry_with_the_referrers_api(run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path) -> None:
    tree = make_tree(seed=11)
    src = write_tree_layout(tree, tmp_path / "src")
    api = ReferrersApi(page_size=1)
    with FaultProxy(registry.url) as proxy:
        proxy.rule = api
        copy_ok(run_skopo, *PLAIN, "--referrers", f"oci:{src}:v1", f"docker://{proxy.host}/api/app:v1")
        # The registry answered OCI-Subject: no tag schema index was written.
        assert_tree_in_registry(registry, "api/app", tree, tag_schema=False)
        assert len(api.referrers[("api/app", tree.image.manifest_digest)]) == 2
        # Read back through the API, one descriptor per page.
        before = api.requests
        copy_ok(run_skopo, *PLAIN, "--referrers", f"docker://{proxy.host}/api/app:v1", f"oci:{tmp_path / 'back'}:v1")
        assert api.requests - before >= 3  # two pages for the image, one for the SBOM ...
        assert_tree_in_layout(tree, tmp_path / "back")
        result = run_skopo("inspect", "--tls-verify=false", "--referrers", f"docker://{proxy.host}/api/app:v1")
        assert result.returncode == 0, describe_result(result)
        listed = {r["Digest"]: r for r in json.loads(result.stdout)["Referrers"]}
        assert listed[tree.sbom.manifest_digest]["ArtifactType"] == "application/spdx+json"


def test_concurrent_writers_keep_every_referrer(
    run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path
) -> None:
    image = build_image(fmt="oci", seed=77, indent=None)
    sources = []
    for i in range(4):
        layout = write_oci_layout(image, tmp_path / f"src{i}", "v1")
        write_oci_layout(signature_for(image, seed=100 + i), layout, None)
        sources.append(layout)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "toolkit", "--insecure-policy", "copy", "-q", "--referrers", *PLAIN,
             f"oci:{layout}:v1", f"docker://{registry.host}/race/app:v1"],
            env=dict(run_skopo.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for layout in sources
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    listed = tag_index(registry, "race/app", image)
    assert listed is not None
    assert sorted(e["digest"] for e in listed) == sorted(signature_for(image, seed=100 + i).manifest_digest
                                                         for i in range(4))


def test_referrers_tag_holding_a_manifest(run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path) -> None:
    tree = make_tree(seed=14)
    tag = "sha256-" + tree.image.manifest_hex
    push_image(registry, "taghold/app", "v1", tree.image)
    push_image(registry, "taghold/app", tag, tree.sbom)  # the referrers tag holds a manifest
    # Reading: not an index means no referrers (distribution-spec); the image alone is copied.
    copy_ok(run_skopo, *PLAIN, "--referrers", f"docker://{registry.host}/taghold/app:v1", f"oci:{tmp_path / 'l'}:v1")
    assert [e["digest"] for e in layout_entries(tmp_path / "l")] == [tree.image.manifest_digest]
    # Writing: the tag is not overwritten; the copy fails, naming it.
    src = write_tree_layout(tree, tmp_path / "src")
    result = run_skopo("--insecure-policy", "copy", "-q", "--referrers", *PLAIN, f"oci:{src}:v1",
                       f"docker://{registry.host}/taghold/app:v1")
    assert_clean_error(result, match=f"referrers index {tag} .*not an image index")
    assert get_manifest(registry, "taghold/app", tag).content == tree.sbom.manifest


@pytest.mark.parametrize("case", ["huge-listing", "endless-pages", "wrong-subject"])
def test_hostile_registry_referrers(
    run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path, case: str
) -> None:
    tree = make_tree(seed=12)
    push_image(registry, "bad/app", "v1", tree.image)
    tag = "sha256-" + tree.image.manifest_hex
    rule = None
    if case == "wrong-subject":
        other = signature_for(build_image(fmt="oci", seed=98))
        push_image(registry, "bad/app", other.manifest_digest, other)
        push_manifest(registry, "bad/app", tag, _referrers_index((other,)), OCI_INDEX)
        match = "names another subject"
    else:
        entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 10,
                 "digest": "sha256:" + "e" * 64, "artifactType": "application/x"}
        count = 100_000 if case == "huge-listing" else 2
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry] * count}).encode()
        def rule(req: ProxyRequest) -> Reply | None:
            if "/referrers/" not in req.path:
                return None
            headers = [("Content-Type", OCI_INDEX)]
            if case == "endless-pages":  # every page links to a new next page
                page = int(req.path.rsplit("n=", 1)[1]) + 1 if "n=" in req.path else 1
                headers.append(("Link", f'</v2/bad/app/referrers/{tree.image.manifest_digest}?n={page}>; rel="next"'))
            return Reply(200, headers, body)

        match = "exceeded maximum allowed size" if case == "huge-listing" else "more than 100 pages"
    dest = tmp_path / "dst"
    with FaultProxy(registry.url) as proxy:
        proxy.rule = rule
        started = time.monotonic()
        result = run_skopo("--insecure-policy", "copy", "-q", "--referrers", *PLAIN,
                           f"docker://{proxy.host}/bad/app:v1", f"oci:{dest}:v1", timeout=120)
        elapsed = time.monotonic() - started
    assert_clean_error(result, match=match)
    assert not dest.exists(), "nothing may be committed"
    assert elapsed < 60, "a hostile listing must end quickly"


def test_sync_referrers(run_skopo: SkopoRunner, registry: RegistryServer) -> None:
    tree = make_tree(seed=13)
    push_tree(registry, "syncref/app", tree)
    for _ in range(2):  # the second run copies referrers again instead of skipping the image
        result = run_skopo("--insecure-policy", "sync", "-q", "--referrers", "--src", "docker", "--dest", "docker",
                           *PLAIN, f"{registry.host}/syncref/app:v1", f"{registry.host}/syncrefdst")
        assert result.returncode == 0, describe_result(result)
    assert_tree_in_registry(registry, "syncrefdst/app", tree, tag_schema=True)
