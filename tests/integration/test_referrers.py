"""`--referrers`: an image copied together with everything that refers to it (OCI 1.1 `subject`,
and cosign's `.sig`/`.att`/`.sbom` tags), and `inspect --referrers`.

The fixture image has two referrers (an SBOM and a signature), a signature on the SBOM, and
a cosign `.sig` tag. Against the real docker-registry (no referrers API: the referrers tag
schema is used for real) and, for the API path, the fault proxy answering the referrers
endpoint as the distribution spec defines it; both ways with `oci:` layouts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
from helpers.artifacts import cosign_signature, descriptor_of, sbom_for, signature_for
from helpers.images import OCI_REF_NAME, BuiltImage, build_image, write_dir, write_oci_layout
from helpers.trees import leftovers, snapshot


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
