"""The `skopo` command (layer 9): the only code that uses typer, prints or exits.

- `app.py`: the root command, global flags, entry-point discovery of subcommands, one
  error line and the exit status for every failure;
- `commands/<verb>.py`: one thin module per subcommand (flags -> `toolkit.ops` call ->
  output), registered in the `toolkit.commands` entry-point group;
- `flags.py` (shared flag groups), `argv.py` (Go-style argument rewriting), `context.py`
  (global options; `toolkit.global_options` for plugins), `common.py` (policy, retries,
  digest files), `copying.py` (what copy and sync share), `progress.py` (bars and plain
  lines), `signing.py`, `gotemplate.py`, `manpages.py` (`make man`).
"""
