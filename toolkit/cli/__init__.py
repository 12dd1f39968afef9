"""The `skopo` command (layer 9): the only code that uses typer, prints or exits.

- `app.py`: the root command, global flags, entry-point discovery of subcommands, one
  error line and the exit status for every failure;
- `commands/<verb>.py`: one thin module per subcommand (flags -> `toolkit.ops` call ->
  output), registered in the `toolkit.commands` entry-point group;
- `flags.py` (shared flag groups), `argv.py` (Go-style argument rewriting), `context.py`
  (global options; `toolkit.global_options` for plugins), `common.py` (policy, retries,
  digest files), `copying.py` (what copy and sync share), `progress.py` (bars and plain
  lines), `signing.py`, `gotemplate.py`, `manpages.py` (`make man`), `_deferred.py`
  (modules typer and requests import, loaded on first use).
"""

__all__ = ["main"]


def main() -> None:
    """The `skopo` console script: `toolkit.cli.app.main` with the cyclic GC paused first.

    Importing typer and the command tree creates many thousands of long-lived objects and
    next to no garbage; with the GC on, the collections it triggers while doing so cost
    about a sixth of the imports' time. So the GC is paused before `toolkit.cli.app` is
    imported (this package holds nothing else, so importing it costs nothing), and
    `app.main` turns it back on when the command starts to run.

    Standard modules that typer imports but this program seldom uses (`platform`,
    `subprocess`) are put off until first used (`cli/_deferred.py`).
    """
    import gc

    paused = gc.isenabled()
    gc.disable()
    from toolkit.cli import _deferred

    _deferred.defer()
    from toolkit.cli import app

    app.main(gc_paused=paused)
