"""The public Python API (`toolkit.__all__`, defined in `toolkit/api.py`): lazy, typed, source
first, progress through a callback, usable from threads, the same answers as the CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import toolkit
from helpers import SkopoRunner
from helpers.images import build_image, write_oci_layout
from helpers.trees import snapshot

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DEMO_DIGEST = "sha256:f79e3cf44074156d87743ddd348fcb4e8d37bd2777ad31b02b2f583b847ea2c8"
INSECURE = toolkit.policy_context(insecure=True)


def test_import_toolkit_loads_nothing_else() -> None:
    code = (
        "import sys; before = set(sys.modules); import toolkit\n"
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in sys.stdlib_module_names))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['toolkit']"


def test_every_public_name_resolves_and_unknown_names_do_not() -> None:
    assert toolkit.__all__[0] == "__version__"
    assert set(toolkit.__all__[1:]) == set(toolkit._LAZY)
    for name in toolkit.__all__:
        assert getattr(toolkit, name) is not None, name
        assert name in dir(toolkit)
    assert toolkit.copy.__module__ == "toolkit.api"
    assert toolkit.ToolkitError is __import__("toolkit.errors").errors.ToolkitError
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        toolkit.nothing_here  # noqa: B018
    assert "stable" in (toolkit.__doc__ or "") and "internal" in (toolkit.__doc__ or "")


def test_the_docstring_example_runs(tmp_path: Path) -> None:
    doc = toolkit.__doc__ or ""
    (example,) = re.findall(r"^```python\n(.*?)^```$", doc, re.DOTALL | re.MULTILINE)
    (tmp_path / "examples").symlink_to(EXAMPLES)
    out = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=False)
    assert out.returncode == 0, out.stderr
    digest, rest = out.stdout.split("\n", 1)
    assert digest == DEMO_DIGEST
    assert json.loads(rest)["Digest"] == DEMO_DIGEST
    assert (tmp_path / "demo-copy" / "manifest.json").is_file()


def _layout(tmp_path: Path, seed: int = 5, layers: int = 3) -> str:
    image = build_image(fmt="oci", layer_count=layers, layer_size=300_000, seed=seed)
    write_oci_layout(image, tmp_path / "src", "v1")
    return f"oci:{tmp_path / 'src'}:v1"


def test_copy_takes_the_source_first_and_reports_progress(tmp_path: Path) -> None:
    src = _layout(tmp_path)
    events: list[toolkit.ProgressEvent] = []
    lock = threading.Lock()

    def progress(event: toolkit.ProgressEvent) -> None:
        with lock:
            events.append(event)

    result = toolkit.copy(src, f"dir:{tmp_path / 'out'}", policy=INSECURE, progress=progress)
    assert (tmp_path / "out" / "manifest.json").read_bytes() == result.manifest
    assert result.manifest_digest == toolkit.manifest_digest(result.manifest)
    messages = [e.text for e in events if e.event == "message"]
    assert messages[0] == "Getting image source signatures"
    assert "Writing manifest to image destination" in messages
    started = {e.digest for e in events if e.event == "start"}
    finished = [e for e in events if e.event == "finish"]
    assert {e.digest for e in finished} == started and len(started) == 4  # 3 layers and the config
    for event in finished:
        assert event.text == "done" and event.copied == event.size > 0
        advances = [e.copied for e in events if e.event == "advance" and e.digest == event.digest]
        assert advances == sorted(advances) and advances[-1] == event.size


def test_the_default_policy_is_the_policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SKOPO_SYSTEM_POLICY_PATH", str(tmp_path / "none.json"))
    with pytest.raises(toolkit.PolicyError, match="no policy.json file found"):
        toolkit.copy("oci:examples/image:demo", f"dir:{tmp_path / 'out'}")
    assert not (tmp_path / "out").exists()
    demo = toolkit.policy_context(EXAMPLES / "demo-policy.json")
    with pytest.raises(toolkit.PolicyRejectedError, match="Source image rejected"):
        toolkit.copy(f"oci:{EXAMPLES / 'image'}:demo", f"dir:{tmp_path / 'out'}", policy=demo)
    assert not (tmp_path / "out").exists()


def test_progress_and_a_reporter_do_not_mix(tmp_path: Path) -> None:
    from toolkit.ops.report import CallbackReporter

    options = toolkit.CopyOptions(reporter=CallbackReporter(lambda e: None))
    with pytest.raises(toolkit.InvalidInputError, match="not both"):
        toolkit.copy("oci:x:y", "dir:z", policy=INSECURE, options=options, progress=lambda e: None)


def test_a_raising_callback_aborts_and_leaves_the_destination(tmp_path: Path) -> None:
    src = _layout(tmp_path)
    dest = tmp_path / "layout"
    toolkit.copy(f"oci:{EXAMPLES / 'image'}:demo", f"oci:{dest}:old", policy=INSECURE)
    before = snapshot(dest)

    class Stop(Exception):
        pass

    def progress(event: toolkit.ProgressEvent) -> None:
        if event.event == "advance":
            raise Stop

    with pytest.raises(Stop):
        toolkit.copy(src, f"oci:{dest}:new", policy=INSECURE, progress=progress)
    assert snapshot(dest) == before


def test_bad_names_fail_before_anything_is_opened(tmp_path: Path) -> None:
    with pytest.raises(toolkit.InvalidImageNameError, match="expected colon-separated"):
        toolkit.copy(f"oci:{EXAMPLES / 'image'}:demo", "nowhere", policy=INSECURE)
    with pytest.raises(toolkit.ImageNotFoundError):
        toolkit.inspect(f"dir:{tmp_path / 'missing'}")


def test_inspect_is_what_the_cli_prints(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = _layout(tmp_path)
    info = toolkit.inspect(src)
    assert isinstance(info, toolkit.InspectInfo)
    assert [str(layer.digest) for layer in info.layers_data] == info.layers
    cli = run_skopo("inspect", src)
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.decode() == info.to_json() + "\n"
    # A reference works as well as a name.
    assert toolkit.inspect(toolkit.parse_image_name(src)).digest == info.digest


def test_manifest_digest_list_tags_delete_and_policy_check(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    raw = (EXAMPLES / "image-signed" / "manifest.json").read_bytes()
    cli = run_skopo("manifest-digest", EXAMPLES / "image-signed" / "manifest.json")
    assert str(toolkit.manifest_digest(raw)) == cli.stdout.decode().strip() == DEMO_DIGEST

    archive = tmp_path / "a.tar"
    toolkit.copy(f"oci:{EXAMPLES / 'image'}:demo", f"docker-archive:{archive}:skopo/demo:v1", policy=INSECURE)
    assert toolkit.list_tags(f"docker-archive:{archive}") == ["docker.io/skopo/demo:v1"]

    layout = tmp_path / "layout"
    toolkit.copy(f"oci:{EXAMPLES / 'image'}:demo", f"oci:{layout}:a", policy=INSECURE)
    toolkit.delete(f"oci:{layout}:a")
    with pytest.raises(toolkit.ImageNotFoundError):
        toolkit.inspect(f"oci:{layout}:a")

    demo = toolkit.policy_context(EXAMPLES / "demo-policy.json")
    verdict = toolkit.check_policy(f"dir:{EXAMPLES / 'image-signed'}", policy=demo)
    assert verdict.accepted and str(verdict.digest) == DEMO_DIGEST
    tampered = shutil.copytree(EXAMPLES / "image-signed", tmp_path / "tampered")
    with open(tampered / "manifest.json", "ab") as f:
        f.write(b"\n")
    verdict = toolkit.check_policy(f"dir:{tampered}", policy=demo)
    assert not verdict.accepted and verdict.requirements[0].reason


def test_calls_run_concurrently_from_threads(tmp_path: Path) -> None:
    src = _layout(tmp_path, layers=2)
    expected = toolkit.inspect(src).digest
    errors: list[BaseException] = []
    digests: list[str] = []

    def work(n: int) -> None:
        try:
            result = toolkit.copy(src, f"oci:{tmp_path / 'shared'}:t{n}", policy=INSECURE)
            digests.append(str(toolkit.inspect(f"oci:{tmp_path / 'shared'}:t{n}").digest))
            assert result.manifest_digest == expected
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert digests == [str(expected)] * 6


def test_sync_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(toolkit.InvalidInputError, match="invalid sync transport kind"):
        toolkit.sync("a", "b", source_kind="ftp", dest_kind="dir", policy=INSECURE)
    tree = tmp_path / "tree"
    tree.mkdir()
    toolkit.copy(f"oci:{EXAMPLES / 'image'}:demo", f"dir:{tree / 'demo'}", policy=INSECURE)
    seen: list[str] = []
    result = toolkit.sync(str(tree), str(tmp_path / "mirror"), source_kind="dir", dest_kind="oci", policy=INSECURE,
                          progress=lambda e: seen.append(e.text))
    assert result.count(toolkit.ItemStatus.COPIED) == 1
    assert any(text.startswith("Copying image ref 1/1") for text in seen)
    assert str(toolkit.inspect(f"oci:{tmp_path / 'mirror'}:demo").digest) == DEMO_DIGEST
