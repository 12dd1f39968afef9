"""containers/storage stores under a test's tmp_path, and the peers that use them.

`StorageStore(graph, run, driver)` names one store the way each tool takes it:
`.spec` is skopo's/skopeo's `[DRIVER@GRAPH+RUN]`, `.podman(...)` runs podman with
`--root/--runroot/--storage-driver` (and its state kept beside the store), `.cli(...)` runs
Debian's `containers-storage` command. `.images()` / `.layers()` read the store's JSON
directly, `.cleanup()` undoes the mounts the overlay driver leaves behind.

`runnable_layer()` is a tiny root filesystem made of the host's `/bin/dash` and the
libraries it needs, so `podman run` has something to run.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.cli import StrPath
from helpers.env import make_isolated_home, merge_env
from helpers.images import tar_bytes
from helpers.peers import podman_argv, run_peer

__all__ = ["StorageStore", "runnable_layer", "mounts_under", "crc64_iso", "tar_split_lines", "hand_made_vfs_store"]


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root` (deepest first), from /proc/self/mountinfo."""
    prefix = os.path.realpath(root)
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


@dataclass
class StorageStore:
    """One store: graph root, run root, driver (and podman's state beside them)."""

    base: Path
    driver: str = "vfs"
    options: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.graph = self.base / "graph"
        self.run = self.base / "run"
        conf = self.base / "containers.conf"
        conf.write_text("# empty: podman's built-in defaults\n")
        isolated = make_isolated_home(self.base / "podman-home")
        self.env = merge_env(isolated.env, {"CONTAINERS_CONF": str(conf), **self.env})

    @property
    def spec(self) -> str:
        options = ":" + ",".join(self.options) if self.options else ""
        return f"[{self.driver}@{self.graph}+{self.run}{options}]"

    def ref(self, name: str) -> str:
        """`containers-storage:[spec]name` (name may be an image ID)."""
        return f"containers-storage:{self.spec}{name}"

    # ------------------------------------------------------------------ peers

    def podman_argv(self) -> list[str]:
        podman = shutil.which("podman")
        assert podman is not None
        argv = podman_argv(podman, self.base / "podman", driver=self.driver, graph=self.graph, run=self.run)
        for option in self.options:
            argv += ["--storage-opt", option]
        return argv

    def podman(self, *args: StrPath, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
        """Run podman on this store; raise `PeerCommandError` if `check` and it fails."""
        return run_peer([*self.podman_argv(), *(os.fspath(a) for a in args)], env=self.env, check=check,
                        timeout=timeout)

    def podman_json(self, *args: StrPath) -> Any:
        return json.loads(self.podman(*args).stdout)

    def cli(self, *args: StrPath, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run `containers-storage -s DRIVER -g GRAPH -R RUN ARGS...`."""
        binary = shutil.which("containers-storage")
        assert binary is not None
        argv = [binary, "--storage-driver", self.driver, "--graph", str(self.graph), "--run", str(self.run)]
        for option in self.options:
            argv += ["--storage-opt", option]
        return run_peer([*argv, *(os.fspath(a) for a in args)], env=self.env, check=check)

    # ------------------------------------------------------------------ contents

    def _json(self, name: str) -> list[dict[str, Any]]:
        path = self.graph / f"{self.driver}-{name}" / f"{name}.json"
        if not path.exists() or not path.read_bytes().strip():
            return []
        data: list[dict[str, Any]] = json.loads(path.read_bytes())
        return data

    def images(self) -> list[dict[str, Any]]:
        return self._json("images")

    def layers(self) -> list[dict[str, Any]]:
        return self._json("layers")

    def image(self, image_id: str) -> dict[str, Any]:
        matches = [i for i in self.images() if i["id"] == image_id]
        assert len(matches) == 1, f"image {image_id} not in {self.images()}"
        return matches[0]

    def big_data(self, image_id: str, key: str) -> bytes:
        """A big data item, by c/storage's file naming (the key, or "=" + base64 of it)."""
        plain = all(c == "." or c.isdigit() or "a" <= c <= "z" for c in key)
        name = key if plain else "=" + base64.b64encode(key.encode()).decode()
        return (self.graph / f"{self.driver}-images" / image_id / name).read_bytes()

    def snapshot(self) -> tuple[Any, Any]:
        """The image and layer records (without the layers' creation times)."""
        layers = [{k: v for k, v in layer.items() if k != "created"} for layer in self.layers()]
        return self.images(), layers

    def cleanup(self) -> None:
        """Unmount what the overlay driver (or podman) left mounted in the store."""
        for point in mounts_under(self.base):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def runnable_layer() -> bytes:
    """A layer with `/bin/sh` (the host's dash) and its libraries, as an uncompressed tar."""
    entries: dict[str, bytes | None] = {}
    files = {"bin/sh": "/bin/dash"}
    out = subprocess.run(["ldd", "/bin/dash"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        path = next((p for p in parts if p.startswith("/")), None)
        if path is not None:
            files[path.lstrip("/")] = os.path.realpath(path)
    for name in sorted(files):
        parent = ""
        for component in name.split("/")[:-1]:
            parent = f"{parent}{component}/"
            entries.setdefault(parent, None)
    for name in sorted(files):
        entries[name] = Path(files[name]).read_bytes()
    return tar_bytes(entries, mode=0o755)



# ---------------------------------------------------------------------------------- hand-made stores
#
# Written from the format description (research notes, c/storage 1.43), not with toolkit,
# so unit tests can read a store without the containers-storage command.


def crc64_iso(data: bytes) -> bytes:
    """Go's hash/crc64 with the ISO table, as tar-split records file contents (big-endian)."""
    poly, crc = 0xD800000000000000, 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return (crc ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")


def tar_split_lines(tar: bytes) -> list[bytes]:
    """tar-split JSON lines for `tar`: one segment per gap between file contents."""
    import io
    import tarfile

    lines: list[dict[str, Any]] = []
    prev = 0
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        for member in archive.getmembers():
            lines.append({"type": 2, "payload": base64.b64encode(tar[prev : member.offset_data]).decode()})
            entry: dict[str, Any] = {"type": 1, "name": member.name + ("/" if member.isdir() else "")}
            if member.size:
                content = tar[member.offset_data : member.offset_data + member.size]
                entry["size"] = member.size
                entry["payload"] = base64.b64encode(crc64_iso(content)).decode()
            else:
                entry["payload"] = None
            lines.append(entry)
            prev = member.offset_data + (member.size if member.isreg() else 0)
    lines.append({"type": 2, "payload": base64.b64encode(tar[prev:]).decode()})
    return [json.dumps({**line, "position": i}).encode() + b"\n" for i, line in enumerate(lines)]


def hand_made_vfs_store(graph: Path, tars: list[bytes], *, manifest: bytes | None, config: bytes | None,
                        image_id: str, names: list[str], metadata: str = "", extra: dict[str, Any] | None = None
                        ) -> list[str]:
    """A vfs store holding one image made of `tars` (uncompressed layers, each extracted
    with `tarfile` into its own full copy, as vfs keeps them). Returns the layer IDs."""
    import gzip
    import hashlib
    import io
    import tarfile

    layers: list[dict[str, Any]] = []
    parent = ""
    for tar in tars:
        diff = hashlib.sha256(tar).hexdigest()
        layer_id = diff if not parent else hashlib.sha256(f"{parent}+{diff}".encode()).hexdigest()
        root = graph / "vfs/dir" / layer_id
        if parent:
            shutil.copytree(graph / "vfs/dir" / parent, root, symlinks=True)
        else:
            root.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
            archive.extractall(root, filter="tar")
        (graph / "vfs-layers").mkdir(parents=True, exist_ok=True)
        (graph / "vfs-layers" / f"{layer_id}.tar-split.gz").write_bytes(gzip.compress(b"".join(tar_split_lines(tar))))
        record: dict[str, Any] = {"id": layer_id}
        if parent:
            record["parent"] = parent
        record.update({"created": "2024-01-01T00:00:00Z", "compressed-diff-digest": f"sha256:{diff}",
                       "compressed-size": len(tar), "diff-digest": f"sha256:{diff}", "diff-size": len(tar)})
        layers.append(record)
        parent = layer_id
    (graph / "vfs-layers/layers.json").write_text(json.dumps(layers))
    big: dict[str, bytes] = {}
    if config is not None:
        big["sha256:" + hashlib.sha256(config).hexdigest()] = config
    if manifest is not None:
        big["manifest"] = manifest
        big["manifest-sha256:" + hashlib.sha256(manifest).hexdigest()] = manifest
    images_dir = graph / "vfs-images"
    (images_dir / image_id).mkdir(parents=True)
    for key, data in big.items():
        plain = all(c == "." or c.isdigit() or "a" <= c <= "z" for c in key)
        name = key if plain else "=" + base64.b64encode(key.encode()).decode()
        (images_dir / image_id / name).write_bytes(data)
    image: dict[str, Any] = {"id": image_id, "names": names, "layer": parent, "metadata": metadata,
                             "big-data-names": list(big), "big-data-sizes": {k: len(v) for k, v in big.items()},
                             "big-data-digests": {k: "sha256:" + hashlib.sha256(v).hexdigest() for k, v in big.items()},
                             "created": "2024-01-01T00:00:00Z", **(extra or {})}
    (images_dir / "images.json").write_text(json.dumps([image]))
    return [layer["id"] for layer in layers]
