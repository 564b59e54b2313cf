"""The ``qdlpy`` command: a click group whose commands are thin wrappers over the API.

``main()`` owns the exit-code contract (qdlpy.errors, README "Exit codes"): every
QdlpyError becomes its message and hint on stderr (and the error document on stdout
under --json) plus its exit code; Ctrl-C is 130; anything unexpected is 1 with the
traceback shown only with -v. No library exception (pyusb's USBError is an OSError
that click would mistake for a closed stdout) reaches click: the transports convert
them, and main() catches what slips through as an internal error.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import traceback
from collections.abc import Sequence

import click
from rich.console import Console
from rich.logging import RichHandler

from qdlpy._version import __version__
from qdlpy.errors import QdlpyError

from . import output

log = logging.getLogger("qdlpy.cli")

# Command name -> module under qdlpy.cli.commands that defines `command`.
COMMANDS: dict[str, str] = {
    "list": "list_devices",
    "regions": "regions",
    "pull": "pull",
    "watch": "watch",
    "assemble": "assemble",
    "inspect": "inspect",
    "info": "info",
    "load": "load",
    "reset": "reset",
    "simulate": "simulate",
    "doctor": "doctor",
    "udev": "udev",
}
ALIASES = {"ramdump": "pull"}  # for people coming from `qdl ramdump`


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (fast --help, no pyusb cost)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [n for n, m in COMMANDS.items() if _module_exists(m)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = ALIASES.get(cmd_name, cmd_name)
        mod_name = COMMANDS.get(cmd_name)
        if mod_name is None or not _module_exists(mod_name):
            return None
        module = importlib.import_module(f"qdlpy.cli.commands.{mod_name}")
        command = module.command
        assert isinstance(command, click.Command)
        return command


def _module_exists(mod_name: str) -> bool:
    return importlib.util.find_spec(f"qdlpy.cli.commands.{mod_name}") is not None


def setup_logging(verbosity: int, log_file: str | None, console: Console) -> None:
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    root = logging.getLogger("qdlpy")
    root.setLevel(logging.DEBUG)
    for old in [h for h in root.handlers if getattr(h, "_qdlpy_cli", False)]:
        root.removeHandler(old)  # main() called again in the same process
    handler: logging.Handler
    if console.is_terminal:
        # Through the same console as the progress bars, so log lines print above them.
        handler = RichHandler(console=console, show_time=False, show_path=False,
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
    st.verbosity = verbose - quiet
    setup_logging(st.verbosity, log_file, st.console)


def _report(err: QdlpyError, st: output.CliState) -> None:
    if st.json_mode and not st.json_emitted and st.json_schema:
        output.emit_json(output.error_document(st.json_schema, err), st)
    sys.stderr.write(f"error: {err.message}\n")
    if err.hint:
        sys.stderr.write(f"hint: {err.hint}\n")
    if "output_dir" in err.details:
        sys.stderr.write(f"saved so far: {err.details['output_dir']} (continue with: "
                         f"{err.details.get('resume', 'qdlpy pull --resume')})\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the documented exit code."""
    st = output.CliState()
    try:
        # Without standalone mode, click hands back a command's ctx.exit(N) as the return
        # value (a command reporting its outcome, like watch's worst pull, without an error).
        returned = cli.main(args=list(argv) if argv is not None else None, prog_name="qdlpy",
                            standalone_mode=False, obj=st)
        code = returned if isinstance(returned, int) else 0
    except QdlpyError as err:
        _report(err, st)
        code = err.exit_code
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = e.exit_code  # UsageError -> 2
    except (KeyboardInterrupt, click.exceptions.Abort):
        sys.stderr.write("interrupted\n")
        code = 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: exit 1, never a raw trace
        if st.verbosity > 0:
            traceback.print_exc()
        _report(QdlpyError(f"internal error: {type(e).__name__}: {e}"), st)
        code = 1
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    main()
