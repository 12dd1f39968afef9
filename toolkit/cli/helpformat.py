"""How `--help` is laid out: plain text that reads the same at 80 columns, in a pipe or a log.

skopo's help is click's plain formatter (every Typer app of skopo sets
`rich_markup_mode=None`): options in a two-column list where an option name with its
metavar is never cut (a long one gets its own line and the help goes below it), help
text wrapped at the terminal width (at most 80 columns), no box drawing, no colour.
Rich's tables, in comparison, shrink and cut option names and metavars to fit 80 columns.

`HelpGroup` is the group class of skopo's command groups: its command list shows each
command's whole first sentence, wrapped, where click would cut it at the column's width
with `...`.
"""

from __future__ import annotations

from typer import _click
from typer.core import TyperGroup

__all__ = ["HelpGroup"]

#: Longer than any first sentence: the short help is never cut, only wrapped.
_NO_LIMIT = 10_000


class HelpGroup(TyperGroup):
    """A Typer group whose `--help` lists commands with their full first sentence."""

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        rows: list[tuple[str, str]] = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, command.get_short_help_str(_NO_LIMIT)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
