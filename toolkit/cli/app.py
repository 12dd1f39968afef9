"""The `skopo` command: the root Typer app, global flags, plugin discovery, error handling.

Contract:
- Every subcommand, built-in or not, comes from the entry-point group `toolkit.commands`
  (the built-in ones from `toolkit.cli.commands.BUILTIN`, the same names, without a scan;
  a plugin cannot replace a built-in name). A run loads only the command it invokes;
  `--help`, completion and a name that is not built in scan the entry points for
  plugins. An entry point may name a function (becomes a command), a `typer.Typer` (becomes a
  command group) or an already-built click command. One that fails to load prints one
  warning line on stderr and is skipped; the other commands keep working.
- `main()` never lets a traceback reach the user (unless `--debug`): a `ToolkitError`
  prints one line, `Error: <message>` on a terminal and skopeo's logrus line
  (`time="..." level=fatal msg="<message>"`) otherwise (`cli/errorline.py`), and exits
  with its `exit_code` (2 for image-not-found);
  usage errors exit 1, as skopeo does, so that 2 keeps meaning "not found".
"""

# No `from __future__ import annotations` here: Typer reads `_root`'s annotations on every
# run, and string annotations would be compiled and evaluated each time (~17 M instructions
# for the global flags); evaluated once at definition they cost next to nothing. The flags
# are declared in Typer's default style (`name: TYPE = typer.Option(DEFAULT, ...)`), the
# same options as `Annotated[TYPE, typer.Option(...)] = DEFAULT` with less of Typer's work
# (no `Annotated` type per flag, one copy less of each option per read of the signature),
# each made by copying (`option`, cli/_typerinfo.py: the same object as `typer.Option`'s).
import atexit
import contextlib
import errno
import gc
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

import typer

if TYPE_CHECKING:
    import signal
else:
    # The C module, with the same functions and the signal numbers as ints: `signal` makes
    # its enums (`Signals`, `Handlers`, `Sigmasks`) at import, ~3 M instructions on every
    # run; it is imported only to name the signal that stopped a command.
    import _signal as signal

import toolkit
from toolkit import _marker, deadline, plugins
from toolkit.cli._typerinfo import option
from toolkit.cli.argv import find_subcommand_name, hoist_global_flags, rewrite_bool_flags
from toolkit.cli.commands import BUILTIN
from toolkit.cli.errorline import print_fatal
from toolkit.cli.helpformat import HelpGroup
from toolkit.errors import CommandTimeoutError, InvalidInputError, ToolkitError, safe_text
from toolkit.gocompat import parse_go_duration

__all__ = ["COMMANDS_GROUP", "build_app", "main"]

COMMANDS_GROUP = "toolkit.commands"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"skopo version {toolkit.__version__}")
        raise typer.Exit(0)


def _root(
    ctx: typer.Context,
    policy: Path | None = option(None, "--policy", help="Path to a trust policy file", metavar="PATH"),
    insecure_policy: bool = option(False, "--insecure-policy", help="Run the tool without any policy check"),
    registries_d: Path | None = option(
        None, "--registries.d", help="Use registry configuration files in DIR", metavar="DIR"
    ),
    registries_conf: Path | None = option(
        None, "--registries-conf", help="Path to registries.conf", metavar="PATH", hidden=True
    ),
    override_arch: str = option(
        "", "--override-arch", help="Use ARCH instead of the architecture of the machine", metavar="ARCH"
    ),
    override_os: str = option("", "--override-os", help="Use OS instead of the running OS", metavar="OS"),
    override_variant: str = option(
        "", "--override-variant", help="Use VARIANT instead of the running architecture variant", metavar="VARIANT"
    ),
    tmpdir: Path | None = option(
        None, "--tmpdir", help="Directory used for big temporary files", metavar="DIR"
    ),
    command_timeout: str = option(
        "0",
        "--command-timeout",
        help="Timeout for the command execution (e.g. 30s, 5m)",
        metavar="DURATION",
        show_default=False,
    ),
    user_agent_prefix: str = option(
        "", "--user-agent-prefix", help="Prefix to add to the user agent", metavar="PREFIX"
    ),
    require_signed: bool = option(
        False,
        "--require-signed",
        help="Require any pulled image to be signed: accept it only if a policy requirement that verifies "
        "signatures (signedBy, sigstoreSigned) accepted it",
    ),
    tls_details: Path | None = option(
        None,
        "--tls-details",
        help="Path to a containers-tls-details.yaml(5) file (minVersion, cipherSuites, namedGroups) for "
        "every TLS connection; see skopo-tls-details.yaml(5)",
        metavar="PATH",
    ),
    tls_verify: bool | None = option(
        None,
        "--tls-verify/--no-tls-verify",
        help="Require HTTPS and verify certificates when accessing the registry (deprecated)",
        hidden=True,
    ),
    debug: bool = option(False, "--debug", help="Enable debug output"),
    version: bool = option(
        False, "--version", "-v", help="Print the version number", callback=_version_callback, is_eager=True
    ),
) -> None:
    """Various operations with container images and container image registries."""
    timeout = parse_go_duration(command_timeout)
    if tls_verify is not None:
        _warn("'--tls-verify' is deprecated, please set this on the specific subcommand")
    if insecure_policy and require_signed:
        raise InvalidInputError("--insecure-policy and --require-signed are mutually exclusive")
    from toolkit.cli.context import GlobalOptions  # not needed by --version or --help

    ctx.obj = GlobalOptions(
        policy_path=policy,
        insecure_policy=insecure_policy,
        registries_d=registries_d,
        registries_conf=registries_conf,
        override_arch=override_arch,
        override_os=override_os,
        override_variant=override_variant,
        tmpdir=tmpdir,
        command_timeout=timeout,
        debug=debug,
        user_agent_prefix=user_agent_prefix,
        require_signed=require_signed,
        tls_details_path=tls_details,
        tls_verify=tls_verify,
    )
    _configure_logging(debug)
    if timeout > 0:
        _arm_timeout(timeout, command_timeout)


def _configure_logging(debug: bool) -> None:
    """skopo's loggers write to stderr; Python warnings become debug lines (cli/logsetup.py):
    at once with `--debug`, else when `logging` is first imported (most commands never are)."""
    from toolkit.cli import logsetup

    if debug:
        logsetup.remove_hooks()
        logsetup.configure(debug)
    else:
        logsetup.configure_on_import(debug)


#: The alarm is a backstop for work that does not watch the deadline (local files): network
#: code times out on its own at the deadline, and says what it was waiting for.
_ALARM_GRACE = 0.25


def _arm_timeout(seconds: float, text: str) -> None:
    """One deadline for the whole command (`toolkit.deadline`, seen by every thread), plus
    SIGALRM in the main thread shortly after it."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise CommandTimeoutError(f"command timed out after {text}")

    deadline.arm(seconds, text)
    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds + _ALARM_GRACE)


def _warn(message: str) -> None:
    sys.stderr.write(f"Warning: {safe_text(message)}\n")


def _root_app() -> typer.Typer:
    """The root Typer app: the global flags (`_root`), no subcommand."""
    app = typer.Typer(
        name="skopo",
        help="Various operations with container images and container image registries.",
        no_args_is_help=False,
        add_completion=True,
        rich_markup_mode=None,  # plain help: never cut at 80 columns (cli/helpformat.py)
        cls=HelpGroup,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback(invoke_without_command=True)(_root)
    return app


def _load(ep: plugins.Loadable) -> Any:
    """The object `ep` names, or None (with one warning line) if it fails to load."""
    try:
        return ep.load()
    except Exception as exc:  # a broken plugin must not break the built-in commands
        _warn(f'plugin command "{ep.name}" ({ep.value}) could not be loaded: {exc}')
        return None


def build_app(only: str | None = None) -> typer.Typer:
    """Build the root app with the subcommands registered in `toolkit.commands` (functions
    and Typer apps; an already-built click command is left out: `_build_command` adds it).

    With `only`, just that subcommand is loaded (`""`: none): importing every command
    module costs a few tenths of a second that a single invocation does not need.
    """
    app = _root_app()
    for ep in _commands(only):
        obj = _load(ep)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=ep.name)
        elif callable(obj) and not hasattr(obj, "params"):
            app.command(name=ep.name)(obj)
    return app


def _commands(only: str | None) -> list[plugins.Loadable]:
    """The commands to register: `only` (none for `""`, and no scan for a built-in name),
    or every registered one, sorted by name."""
    if only == "":
        return []
    if only is not None:
        found = plugins.find(COMMANDS_GROUP, BUILTIN, only)
        return [] if found is None else [found]
    return sorted(plugins.registered(COMMANDS_GROUP, BUILTIN).values(), key=lambda ep: ep.name)


def _build_command(only: str | None = None) -> Any:
    """The root click group with the subcommands `only` selects (see `build_app`)."""
    return _add_commands(typer.main.get_command(_root_app()), only)


def _add_commands(root: Any, only: str | None) -> Any:
    """Add the subcommands `only` selects to the root group `root` (already built by Typer:
    converting the root's flags costs ~25 M instructions, so it is done once per run, not
    again once the subcommand is known). Returns `root`.

    Each command is converted by Typer exactly as if it were registered on the root app
    (`_convert`), in the order the root app would list them: functions, then Typer apps,
    then already-built click commands, each kind sorted by name.
    """
    by_kind: tuple[list[tuple[str, Any]], list[tuple[str, Any]], list[tuple[str, Any]]] = ([], [], [])
    for ep in _commands(only):
        obj = _load(ep)
        if isinstance(obj, typer.Typer):
            by_kind[1].append((ep.name, obj))
        elif callable(obj) and not hasattr(obj, "params"):
            by_kind[0].append((ep.name, obj))
        elif obj is not None:
            by_kind[2].append((ep.name, obj))
    for kind in by_kind:
        for name, obj in kind:
            root.add_command(_convert(name, obj), name)
    return root


def _convert(name: str, obj: Any) -> Any:
    """The click command for a subcommand object: Typer converts a function or a Typer app
    through a holder app carrying the root's settings that reach subcommands (plain help,
    no pretty exceptions), the same conversion `app.command` / `app.add_typer` on the root
    get; a click command is used as it is."""
    if not isinstance(obj, typer.Typer) and hasattr(obj, "params"):
        return obj
    holder = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
    if isinstance(obj, typer.Typer):
        holder.add_typer(obj, name=name)
        return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]
    holder.command(name=name)(obj)
    return typer.main.get_command(holder)  # one command and no callback: that command


def _completing() -> bool:
    """True when the shell's completion script runs skopo (`_SKOPO_COMPLETE=...`)."""
    return any(key.endswith("_COMPLETE") for key in os.environ)



def _command_for(args: Sequence[str]) -> Any:
    """The command tree needed to run `args`: only the invoked subcommand when it is a
    registered one; everything for help, completion or an unknown name."""
    if _completing():
        return _completion_command()
    if {"--show-completion", "--install-completion"} & {arg.partition("=")[0] for arg in args}:
        from toolkit.cli.completion import install_completion_classes

        install_completion_classes()
    root = _build_command(only="")
    name = find_subcommand_name(root, args)
    if name is None and args and not {"-h", "--help"} & set(args):
        return root  # e.g. --version: no command is needed
    if name and plugins.find(COMMANDS_GROUP, BUILTIN, name) is not None:
        return _add_commands(root, name)
    return _add_commands(root, None)


def _completion_command() -> Any:
    """The tree for a completion request: only the command being completed when the words
    before the cursor name one (a TAB must not import every command), with skopo's bash
    completion installed (cli/completion.py)."""
    from toolkit.cli.completion import add_command_stubs, completion_words, install_completion_classes

    root = _build_command(only="")
    name = find_subcommand_name(root, completion_words())
    names = sorted(plugins.registered(COMMANDS_GROUP, BUILTIN))
    if name is None:  # completing the command's name: the names are enough
        command = add_command_stubs(root, names)
    else:
        command = _add_commands(root, name if name in names else None)
    install_completion_classes()
    return command


_INTERRUPTED = threading.Event()
#: The signal that interrupted the command (SIGINT, SIGTERM or SIGHUP).
_SIGNAL_RECEIVED: list[int] = []
#: Signals that clean up like Ctrl-C: `timeout`, systemd, CI cancellation and `kill` send
#: SIGTERM, a closed terminal SIGHUP. Each unwinds the command (temp files and staging
#: directories removed, destinations intact), then the exit status is 128+N.
_CLEANUP_SIGNALS: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if not _INTERRUPTED.is_set():
        _SIGNAL_RECEIVED[:] = [signum]
    _INTERRUPTED.set()
    signal.default_int_handler(signum, frame)


def _watch_signals() -> threading.Event:
    """Turn SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt and record which came. Only in
    the main thread, and only for a signal left at its default (an ignored SIGHUP under
    `nohup`, or a handler someone else installed, is kept)."""
    _INTERRUPTED.clear()
    _SIGNAL_RECEIVED[:] = []
    if threading.current_thread() is not threading.main_thread():
        return _INTERRUPTED
    for signum in _CLEANUP_SIGNALS:
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        if signal.getsignal(signum) in (default, _on_signal):
            signal.signal(signum, _on_signal)
    return _INTERRUPTED


def _interrupted_status() -> int:
    """One line and the shell's status for the signal that stopped us (128+N)."""
    signum = _SIGNAL_RECEIVED[0] if _SIGNAL_RECEIVED else signal.SIGINT
    if signum == signal.SIGINT:
        name = "interrupted"
    else:
        import signal as names  # the `Signals` enum: SIGTERM, SIGHUP

        name = f"terminated by {names.Signals(signum).name}"
    print_fatal(name)
    return 128 + signum


def run(args: Sequence[str]) -> int:
    """Run skopo with `args` (without the program name); return the exit status."""
    debug = "--debug" in args or "--debug=true" in args
    try:
        command = _command_for(args)
        rewritten = rewrite_bool_flags(command, hoist_global_flags(command, args))
        # A completion request runs with no arguments (the words are in the environment).
        if not rewritten and not _completing():
            # As skopeo: a bare `skopo` is a usage error, not a request for help.
            print_fatal("Missing command 'skopo COMMAND'; try 'skopo --help' for more information")
            return 1
        interrupted = _watch_signals()
        _resume_gc()
        result = command.main(args=rewritten, prog_name="skopo", standalone_mode=False)
        if interrupted.is_set():
            # Typer turns Ctrl-C into a silent exit status 130; the user still gets one line.
            return _interrupted_status()
        return result if isinstance(result, int) else 0
    except ToolkitError as exc:
        # An expected failure: one line, even with --debug (whose lines said what led to it).
        print_fatal(f"{exc} ({exc.hint})" if exc.hint else str(exc))
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        if _INTERRUPTED.is_set():  # click turns KeyboardInterrupt into Abort
            return _interrupted_status()
        print_fatal("aborted")
        return 1
    except KeyboardInterrupt:
        return _interrupted_status()
    except BrokenPipeError:
        return 1
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS:
            return _internal_error(exc, debug)
        # Writing our output failed (stdout on a full disk, /dev/full): an ordinary error.
        print_fatal(_output_error(exc))
        return 1
    except Exception as exc:
        format_message = getattr(exc, "format_message", None)
        if callable(format_message):  # a usage error from the command-line parser
            print_fatal(safe_text(" ".join(str(format_message()).splitlines())))
            return 1
        return _internal_error(exc, debug)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        deadline.disarm()


#: Errors of a write that are the machine's state, not a bug: a full disk or quota, a
#: broken device, a file too large.
_OUTPUT_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EPIPE})


def _output_error(exc: OSError) -> str:
    where = safe_text(str(exc.filename)) if exc.filename else "standard output"
    return f"writing {where}: {exc.strerror or exc}"


def _internal_error(exc: BaseException, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    # Any other exception is a bug, but the user still gets one line.
    print_fatal(f"internal error: {safe_text(type(exc).__name__ + ': ' + str(exc))}")
    return 1


_gc_paused_for_startup = False


def _resume_gc() -> None:
    """Turn the cyclic GC back on if `main` paused it, leaving out what start-up made."""
    global _gc_paused_for_startup
    if _gc_paused_for_startup:
        _gc_paused_for_startup = False
        gc.freeze()
        gc.enable()


def main(*, gc_paused: bool = False) -> None:
    """Run skopo with `sys.argv` and exit (the console script is `toolkit.cli.main`, which
    pauses the GC before importing this module and says so with `gc_paused`).

    Start-up (imports, the command tree) makes many long-lived objects and next to no
    garbage, so the cyclic GC is paused until the command runs and those objects are then
    frozen out of it. At the end, once output is flushed, atexit handlers have run and no
    non-daemon thread is left, the process exits without tearing down every module
    (~30 ms that a copy would otherwise spend after its work is done); not under a profiler
    or tracer, which write their results at a normal exit.

    First of all, `toolkit._marker.check()` makes sure that the `toolkit` package is
    skopo's (another distribution may have installed its own `toolkit/` over it).
    """
    global _gc_paused_for_startup
    conflict = _marker.check()
    if conflict is not None:
        print_fatal(safe_text(conflict, 1000))
        sys.exit(1)
    if gc_paused or gc.isenabled():
        gc.disable()
        _gc_paused_for_startup = True
    status = run(sys.argv[1:])
    _resume_gc()
    status = _flush_stdout(status)
    busy = any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread())
    if busy or sys.getprofile() is not None or sys.gettrace() is not None:  # profilers, coverage
        sys.exit(status)
    atexit._run_exitfuncs()
    status = _flush_stdout(status)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(status)


def _flush_stdout(status: int) -> int:
    """Flush what is left of our output; a failure (ENOSPC on a full disk) is one error line."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return status or 1
    except ValueError:  # closed
        return status
    except OSError as exc:
        with contextlib.suppress(OSError, ValueError):
            # Drop what could not be written, or the interpreter's exit would try again.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  # safefile: not a file (the null device)
            print_fatal(_output_error(exc))
        return status or 1
    return status
