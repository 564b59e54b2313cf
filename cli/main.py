"""The ``qdlpy`` command: a click group whose commands are thin wrappers over the API.

``main()`` owns the exit-code contract (qdlpy.errors, README "Exit codes"): every
QdlpyError becomes its message and hint on stderr (and the error document on stdout
under --json) plus its exit code; Ctrl-C is 130 (a pull also ends with 143 on SIGTERM and
129 on SIGHUP, qdlpy.errors); anything unexpected is 1 with the
traceback shown only with -v. No library exception (pyusb's USBError is an OSError
that click would mistake for a closed stdout) reaches click: the transports convert
them, and main() catches what slips through as an internal error.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

import click

from qdlpy._version import __version__
from qdlpy.errors import InvalidArgument, QdlpyError

from . import output

# Start-up time matters (`qdlpy --version`, shell completion, scripts calling `qdlpy list`):
# rich, the commands and everything behind them are imported only when a command needs them.

# Command name -> module under qdlpy.cli.commands that defines `command`.
COMMANDS: dict[str, str] = {
    "list": "list_devices",
    "regions": "regions",
    "pull": "pull",
    "watch": "watch",
    "assemble": "assemble",
    "inspect": "inspect",
    "dmesg": "dmesg",
    "report": "report",
    "info": "info",
    "load": "load",
    "reset": "reset",
    "simulate": "simulate",
    "doctor": "doctor",
    "udev": "udev",
}
ALIASES = {"ramdump": "pull"}  # for people coming from `qdl ramdump`


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (fast --help, no pyusb cost).

    Every command also takes the global -v/-q after its name (``qdlpy pull -v``), as users
    type them; they add to the ones given before it.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = ALIASES.get(cmd_name, cmd_name)
        mod_name = COMMANDS.get(cmd_name)
        if mod_name is None:
            return None
        module = importlib.import_module(f"qdlpy.cli.commands.{mod_name}")
        command = module.command
        assert isinstance(command, click.Command)
        if not any(p.name == "verbose_after" for p in command.params):
            command.params.extend(_verbosity_after_command())
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            # Ours to handle (click would exit 1 for it): see main(). Transports convert
            # their own EPIPE to qdlpy errors, so this one is stdout's or stderr's reader.
            raise _OutputClosed from exc
        except SystemExit as exc:
            if isinstance(exc.__context__, BrokenPipeError):
                raise _OutputClosed from exc  # rich's console exits 1 on a broken pipe
            raise


class _OutputClosed(Exception):
    """The reader of our output went away (``qdlpy regions | head -1``)."""


def _verbosity_after_command() -> list[click.Parameter]:
    def adjust(sign: int) -> Callable[[click.Context, click.Parameter, int], None]:
        def callback(ctx: click.Context, param: click.Parameter, count: int) -> None:
            if count:
                st = output.state()
                st.verbosity += sign * count
                setup_logging(st.verbosity, st.log_file, st)
        return callback

    return [
        click.Option(["-v", "--verbose", "verbose_after"], count=True, expose_value=False,
                     callback=adjust(+1), help="More detail (-vv adds packet traces)."),
        click.Option(["-q", "--quiet", "quiet_after"], count=True, expose_value=False,
                     callback=adjust(-1), help="Only warnings and errors."),
    ]


def setup_logging(verbosity: int, log_file: str | None, st: output.CliState) -> None:
    import logging

    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    root = logging.getLogger("qdlpy")
    root.setLevel(logging.DEBUG)
    for old in [h for h in root.handlers if getattr(h, "_qdlpy_cli", False)]:
        root.removeHandler(old)  # main() called again in the same process
    handler: logging.Handler
    if st.stderr_is_terminal:
        from rich.logging import RichHandler

        # Through the same console as the progress bars, so log lines print above them.
        handler = RichHandler(console=st.console, show_time=False, show_path=False,
                              show_level=verbosity > 0, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(levelname)s %(name)s: %(message)s" if verbosity > 0 else "%(message)s"
        handler.setFormatter(logging.Formatter(fmt))
    handler.setLevel(level)
    setattr(handler, "_qdlpy_cli", True)  # noqa: B010 - a marker for the next setup_logging
    root.addHandler(handler)
    if verbosity < 2:
        logging.getLogger("qdlpy.trace").setLevel(logging.INFO)  # packet dumps only with -vv
    if log_file:
        fh = logging.FileHandler(log_file)
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        setattr(fh, "_qdlpy_cli", True)  # noqa: B010
        root.addHandler(fh)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More detail (-vv adds packet traces).")
@click.option("-q", "--quiet", count=True, help="Only warnings and errors.")
@click.option("--log-file", type=click.Path(dir_okay=False), help="Also write a debug log here.")
@click.version_option(__version__, "--version", prog_name="qdlpy")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int, log_file: str | None) -> None:
    """Pull Qualcomm crash dumps over Sahara and build crash-loadable ELF cores.

    Start with `qdlpy list`, then `qdlpy pull`. Try it without hardware:
    `qdlpy pull --transport sim:kmemdump`.
    """
    st = ctx.ensure_object(output.CliState)
    st.verbosity, st.log_file = verbose - quiet, log_file
    setup_logging(st.verbosity, log_file, st)


def _report(err: QdlpyError, st: output.CliState) -> None:
    if st.json_mode and not st.json_emitted and st.json_schema:
        output.emit_json(output.error_document(st.json_schema, err), st)
    sys.stderr.write(f"error: {err.message}\n")
    if err.hint:
        sys.stderr.write(f"hint: {err.hint}\n")
    if "output_dir" in err.details:
        resume = err.details.get("resume")
        sys.stderr.write(f"saved so far: {err.details['output_dir']}"
                         + (f" (continue with: {resume})" if resume else "") + "\n")


def _usage_error(exc: click.ClickException, st: output.CliState, args: list[str]) -> None:
    """A command-line mistake: click's message, and under --json also the error document."""
    if "--json" in args and not st.json_emitted:
        ctx = getattr(exc, "ctx", None)
        name = ctx.command.name if ctx is not None and ctx.command is not cli else None
        if name is None:  # the group failed (unknown command...): the command as typed
            name = next((a for a in args if ALIASES.get(a, a) in COMMANDS), None)
        schema = _schema_of(ALIASES.get(name, name)) if name else "qdlpy/1"
        hint = f"see `qdlpy {name} --help`" if name else "see `qdlpy --help`"
        err = InvalidArgument(exc.format_message(), hint=hint)
        output.emit_json(output.error_document(schema, err), st)
    exc.show()


def _schema_of(command: str) -> str:
    """The JSON schema a command answers with (its module's SCHEMA)."""
    module = sys.modules.get(f"qdlpy.cli.commands.{COMMANDS.get(command, '')}")
    return str(getattr(module, "SCHEMA", f"qdlpy.{command}/1"))


def _stdout_closed() -> None:
    """The reader of stdout went away (``| head``): stop writing there, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the documented exit code."""
    st = output.CliState()
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        _plug_simulated_usb()
        # Without standalone mode, click hands back a command's ctx.exit(N) as the return
        # value (a command reporting its outcome, like watch's worst pull, without an error).
        returned = cli.main(args=args, prog_name="qdlpy", standalone_mode=False, obj=st)
        code = returned if isinstance(returned, int) else 0
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
    except QdlpyError as err:
        _report(err, st)
        code = err.exit_code
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        _usage_error(e, st, args)
        code = e.exit_code  # UsageError -> 2
    except (_OutputClosed, BrokenPipeError):
        _stdout_closed()
        code = 0  # what was asked for was done; only its printing was cut short
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        sys.stderr.write("interrupted\n")
        # A signal that stopped a command at once carries its number: 128 + it, as a shell
        # reports a process the signal ended (130 for Ctrl-C).
        code = 128 + int(getattr(exc, "signum", 2))
    except Exception as e:  # noqa: BLE001 - the last line of defence: exit 1, never a raw trace
        if st.verbosity > 0:
            import traceback

            traceback.print_exc()
        _report(QdlpyError(f"internal error: {type(e).__name__}: {e}"), st)
        code = 1
    if argv is None:
        sys.exit(code)
    return code


def _plug_simulated_usb() -> None:
    """QDLPY_USB_SIM: simulated devices behind the production usb transport (the simulator
    plugs them in; the usb transport itself never imports it)."""
    if os.environ.get("QDLPY_USB_SIM", "").strip():
        from qdlpy.simulator.pyusb_backend import plug_from_environment

        plug_from_environment()


if __name__ == "__main__":  # pragma: no cover
    main()
