"""cli/_deferred.py: standard modules loaded on first use behave as the real ones.

Each check runs in a fresh interpreter without `site` (pytest has imported these modules
long ago, and a `.pth` file, such as an editable install's, may import some of them too),
with the working tree on its path. Without `site` the third-party packages among them
(`_deferred.PACKAGES`) are not found, so they are not deferred: their own checks run with
`site`, as skopo does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-S", "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_deferred_module_loads_on_first_use_and_then_is_the_real_one() -> None:
    out = _run("""
        import sys, types
        from toolkit.cli import _deferred
        assert not {*_deferred.DEFERRED} & set(sys.modules)
        _deferred.defer()
        everything = sorted(name for name in _deferred.DEFERRED if name not in _deferred.PACKAGES)
        assert _deferred.pending() == everything
        import subprocess
        assert _deferred.pending() == everything  # binding the name loads nothing
        done = subprocess.run([sys.executable, "-c", "print('child')"], capture_output=True, text=True, check=True)
        assert done.stdout == "child\\n"
        real = sys.modules["subprocess"]
        assert type(real) is types.ModuleType and real is not subprocess
        assert subprocess.Popen is real.Popen and subprocess.__file__ == real.__file__
        from subprocess import PIPE
        assert PIPE is real.PIPE
        try:
            subprocess.no_such_name
        except AttributeError:
            pass
        else:
            raise AssertionError("no AttributeError")
        print(_deferred.pending() == [name for name in everything if name != "subprocess"])
    """)
    assert out == "True\n"


def test_threads_that_touch_a_stand_in_together_load_it_once() -> None:
    out = _run("""
        import sys, threading
        from toolkit.cli import _deferred
        _deferred.defer(["platform"])
        import platform
        loads = []
        real_import = _deferred.importlib.import_module
        _deferred.importlib.import_module = lambda name: loads.append(name) or real_import(name)
        barrier = threading.Barrier(8)
        seen = []
        def touch():
            barrier.wait()
            seen.append(platform.machine())
        threads = [threading.Thread(target=touch) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        import os
        assert seen == [os.uname().machine] * 8, seen
        print(loads)
    """)
    assert out == "['platform']\n"


def test_a_module_already_imported_is_left_alone() -> None:
    out = _run("""
        import sys, subprocess
        from toolkit.cli import _deferred
        _deferred.defer(["subprocess", "platform"])
        _deferred.defer(["subprocess", "platform"])
        assert sys.modules["subprocess"] is subprocess
        print(_deferred.pending())
    """)
    assert out == "['platform']\n"


def test_the_platform_stand_in_answers_system_as_platform_does() -> None:
    """uuid (imported by typer) calls platform.system() at import: answered without loading."""
    out = _run("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer(["platform", "subprocess"])
        import uuid
        assert _deferred.pending() == ["platform", "subprocess"]
        answer = sys.modules["platform"].system()
        assert _deferred.pending() == ["platform", "subprocess"]
        import platform
        machine = platform.machine()  # any other attribute loads the module
        assert _deferred.pending() == ["subprocess"] and machine
        print(answer == platform.system() == sys.modules["platform"].system(), uuid.uuid4().version)
    """)
    assert out == "True 4\n"


def test_the_functions_typer_binds_at_import_forward_to_the_real_ones() -> None:
    out = _run("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer()
        from shutil import get_terminal_size
        from gettext import gettext as _
        from difflib import get_close_matches
        everything = sorted(name for name in _deferred.DEFERRED if name not in _deferred.PACKAGES)
        assert _deferred.pending() == everything
        size = get_terminal_size((91, 17))
        assert _deferred.pending() == [name for name in everything if name != "shutil"]
        import shutil
        assert size == shutil.get_terminal_size((91, 17)) and shutil.get_terminal_size is not get_terminal_size
        assert sys.modules["shutil"].get_terminal_size is shutil.get_terminal_size
        left = [name for name in everything if name not in ("shutil", "gettext", "difflib")]
        print(_("Usage:"), get_close_matches("cpy", ["copy", "sync"]), _deferred.pending() == left)
    """)
    assert out == "Usage: ['copy'] True\n"


def test_urls_with_a_bracketed_host_still_parse() -> None:
    out = _run("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer()
        from pathlib import Path
        assert {"ipaddress", "urllib.parse"} <= set(_deferred.pending())
        uri = Path("/a b").as_uri()  # pathlib's forwarder loads urllib.parse
        assert "urllib.parse" not in _deferred.pending() and "ipaddress" in _deferred.pending()
        import urllib.parse
        from urllib.parse import urlsplit
        assert urllib.parse.urlsplit is urlsplit is sys.modules["urllib.parse"].urlsplit
        print(urlsplit("https://[::1]:5000/v2/").hostname, uri, "ipaddress" in _deferred.pending())
    """)
    assert out == "::1 file:///a%20b False\n"


def test_a_deferred_submodule_is_its_package_attribute() -> None:
    out = _run("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer()
        import urllib.parse
        assert "urllib.parse" in _deferred.pending()
        quoted, netloc = urllib.parse.quote("a b"), urllib.parse.urlsplit("http://h/p").netloc
        print(quoted, netloc, "urllib.parse" in _deferred.pending())
    """)
    assert out == "a%20b h False\n"


def test_a_traceback_still_shows_source_lines() -> None:
    out = _run("""
        import traceback
        from toolkit.cli import _deferred
        _deferred.defer()
        import inspect, json
        try:
            json.loads("{")
        except ValueError:
            text = traceback.format_exc()
        source = inspect.getsource(_deferred.pending)
        print("return _default_decoder.decode(s)" in text, source.startswith("def pending"))
    """)
    assert out == "True True\n"



def test_loading_one_stand_in_may_load_another() -> None:
    """A module loaded for a stand-in may load another stand-in's module while it is being
    imported (inspect reads dis.COMPILER_FLAG_NAMES at import; here without the table the
    dis stand-in holds, so that dis must load): both deferred, no deadlock."""
    out = _run("""
        import sys
        from toolkit.cli import _deferred
        assert "inspect" not in sys.modules and "dis" not in sys.modules
        _deferred.defer(["inspect", "dis"])
        del sys.modules["dis"].__dict__["COMPILER_FLAG_NAMES"]
        import inspect
        print(inspect.signature(lambda a, b=1: None), _deferred.pending())
    """)
    assert out == "(a, b=1) []\n"


def test_inspect_loads_without_dis_and_names_the_same_flags() -> None:
    """The dis stand-in holds dis.COMPILER_FLAG_NAMES (the same table as the real one), so
    inspect imports without dis and its CO_* flags are what dis gives."""
    out = _run("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer(["inspect", "dis"])
        import inspect
        inspect.signature(lambda a: None)
        assert _deferred.pending() == ["dis"] and "opcode" not in sys.modules
        flags = {name: getattr(inspect, name) for name in dir(inspect) if name.startswith("CO_")}
        import dis
        dis.Positions  # any other attribute loads dis
        assert _deferred.pending() == []
        real = sys.modules["dis"].COMPILER_FLAG_NAMES
        print(flags == {"CO_" + v: k for k, v in real.items()}, _deferred.COMPILER_FLAG_NAMES == real)
    """)
    assert out == "True True\n"


def test_the_datetime_class_is_the_real_one_before_datetime_loads() -> None:
    """typer and click take `datetime.datetime` at import: the stand-in holds the real class
    (the C module's), so `datetime` and `math` load only when something else is read."""
    out = _run("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer(["datetime"])
        from datetime import datetime
        stamp = datetime(2024, 1, 2, 3, 4, 5)
        assert _deferred.pending() == ["datetime"] and "math" not in sys.modules
        import datetime as module
        delta = module.timedelta(days=1)  # any other name loads datetime
        assert _deferred.pending() == []
        real = sys.modules["datetime"]
        import pickle
        again = pickle.loads(pickle.dumps(stamp + delta))
        print(datetime is real.datetime is module.datetime, again.isoformat(), type(again) is datetime)
    """)
    assert out == "True 2024-01-03T03:04:05 True\n"


def test_inspect_finds_a_class_source_and_a_builtin_signature_through_the_ast_stand_in() -> None:
    """inspect subclasses ast.NodeVisitor at import (its class finder): the stand-in's class
    runs the real visitor, and everything else loads ast."""
    out = _run("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer()
        import inspect
        assert "ast" in _deferred.pending() and "_ast" not in sys.modules
        source = inspect.getsource(_deferred._DeferredModule)
        print(source.startswith("class _DeferredModule"), "ast" in _deferred.pending())
        print(inspect.signature(divmod), type(sys.modules["ast"].NodeVisitor).__name__)
    """)
    assert out == "True False\n(x, y, /) type\n"


def test_importlib_metadata_is_a_package_that_loads_when_used() -> None:
    """urllib3 takes `version` out of importlib.metadata at import time: the forwarder is
    taken without loading; the first call loads the real package, after which its
    submodules and every other name are the real ones."""
    code = textwrap.dedent("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer(["importlib.metadata"])
        import importlib
        from importlib.metadata import version
        assert _deferred.pending() == ["importlib.metadata"] and "zipfile" not in sys.modules
        assert importlib.metadata is sys.modules["importlib.metadata"]
        wanted = version("typer")
        assert _deferred.pending() == []
        import importlib.metadata._meta
        from importlib.metadata import entry_points, packages_distributions
        real = sys.modules["importlib.metadata"]
        print(wanted == real.version("typer"), entry_points is real.entry_points, bool(packages_distributions()))
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True True True\n"


def _run_with_site(code: str) -> str:
    """`code` in a fresh interpreter with `site` (so the installed packages are found),
    warnings as errors (requests warns when its dependencies' versions look wrong)."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
        check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _real_answers() -> tuple[str, str, str]:
    """charset_normalizer's version and guess, and idna's encoding, from the real packages."""
    out = _run_with_site("""
        import charset_normalizer, idna, sys
        print(charset_normalizer.__version__)
        print(charset_normalizer.detect("Größe: fünf Blöcke".encode("latin-1")))
        print(idna.encode("bücher.example"))
    """)
    version, guess, encoded = out.splitlines()
    return version, guess, encoded


def test_requests_imports_with_the_third_party_packages_deferred_and_they_work_when_used() -> None:
    """requests reads charset_normalizer's `__version__` at import (from version.py alone:
    nothing else loads) and aliases both packages under requests.packages; an encoding
    guess (`requests.compat.chardet`, what `Response.apparent_encoding` uses) and a
    non-ASCII host name (`idna`) load the real packages and answer as they do."""
    version, guess, encoded = _real_answers()
    out = _run_with_site("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer()
        import requests, requests.compat, requests.packages
        assert {"charset_normalizer", "idna", "zipfile"} <= set(_deferred.pending()), _deferred.pending()
        assert "charset_normalizer.api" not in sys.modules and "idna.core" not in sys.modules
        print(requests.charset_normalizer_version)
        print(requests.compat.chardet.detect("Größe: fünf Blöcke".encode("latin-1")))
        import idna
        print(idna.encode("bücher.example"))
        assert "charset_normalizer" not in _deferred.pending() and "idna" not in _deferred.pending()
        response = requests.models.Response()
        response._content, response.encoding = "Größe".encode("utf-8"), None
        assert response.text == "Größe" and response.apparent_encoding
    """)
    assert out.splitlines() == [version, guess, encoded]


def test_a_deferred_package_keeps_its_submodules_importable() -> None:
    version, guess, _ = _real_answers()
    out = _run_with_site("""
        import sys
        from toolkit.cli import _deferred
        _deferred.defer(["charset_normalizer"])
        import charset_normalizer.models
        from charset_normalizer.models import CharsetMatches
        assert CharsetMatches is sys.modules["charset_normalizer.models"].CharsetMatches
        import charset_normalizer
        print(charset_normalizer.__version__)
        print(charset_normalizer.detect("Größe: fünf Blöcke".encode("latin-1")))
    """)
    assert out.splitlines() == [version, guess]


def test_an_unreadable_version_file_loads_the_package() -> None:
    version, _, _ = _real_answers()
    out = _run_with_site("""
        from toolkit.cli import _deferred
        _deferred.defer(["charset_normalizer"])
        _deferred._VERSION_FILES["charset_normalizer"] = "/nonexistent/version.py"
        from charset_normalizer import __version__
        print(__version__, _deferred.pending())
    """)
    assert out == f"{version} []\n"


def test_a_package_that_is_not_found_is_not_deferred() -> None:
    """Without `site` nothing is installed: `import idna` fails as it would without skopo."""
    out = _run("""
        from toolkit.cli import _deferred
        _deferred.defer(list(_deferred.PACKAGES))
        try:
            import idna
        except ImportError:
            print("ImportError", _deferred.pending())
    """)
    assert out == "ImportError []\n"
