"""``QDLDriver``: pull a crash dump, list its regions or reset it from a labgrid test.

It binds a ``QDLDevice`` / ``NetworkQDLDevice`` / ``QDLTCPDevice`` or labgrid's generic
``USBFlashableDevice`` / ``NetworkUSBFlashableDevice`` and runs the ``qdlpy`` command (the
environment's ``tools: qdlpy:``, else ``qdlpy`` on PATH): locally for local and TCP devices,
on the exporter through the resource's command prefix for remote USB devices. Results are
the API's own types (``PullResult``, ``RegionsResult``, ``ResetResult``); failures raise the
``QdlpyError`` subclass the command reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource.remote import RemoteUSBResource
from labgrid.step import step

from qdlpy.dump import PullResult
from qdlpy.errors import InvalidArgument, OutputExists
from qdlpy.regions import RegionsResult
from qdlpy.reset import ResetResult

from . import results
from .resources import QDLTCPDevice
from .runner import ToolRunner

__all__ = ["QDLDriver"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _active(func: _F) -> _F:
    """labgrid's Driver.check_active, typed."""
    return cast(_F, Driver.check_active(func))


def _step(**kwargs: Any) -> Callable[[_F], _F]:
    """labgrid's step decorator (logged steps), typed."""
    return cast(Callable[[_F], _F], step(**kwargs))


@target_factory.reg_driver
@attr.s(eq=False)
class QDLDriver(Driver):  # type: ignore[misc]
    """Sahara crash-dump access for a labgrid target (docs/lab.md#labgrid)."""

    bindings: ClassVar[dict[str, set[str]]] = {
        "device": {"QDLDevice", "NetworkQDLDevice", "QDLTCPDevice", "USBFlashableDevice",
                   "NetworkUSBFlashableDevice"},
    }
    #: Seconds the qdlpy command waits for the device (its --timeout).
    timeout: float = attr.ib(default=60.0, converter=float)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        env = self.target.env
        self.tool = env.config.get_tool("qdlpy") if env else "qdlpy"

    def on_activate(self) -> None:
        pass

    def on_deactivate(self) -> None:
        pass

    # -- where and how the command runs ---------------------------------------------------

    @property
    def _remote(self) -> bool:
        return isinstance(self.device, RemoteUSBResource)

    def _runner(self) -> ToolRunner:
        wrap = self.device.wrap_command if self._remote else None
        return ToolRunner(self.tool, wrap, self.logger)

    def _selector(self) -> list[str]:
        """The qdlpy options naming the bound device."""
        if isinstance(self.device, QDLTCPDevice):
            from labgrid.util.proxy import proxymanager

            host, port = proxymanager.get_host_and_port(self.device)
            return ["--transport", f"tcp:{host}:{port}"]
        path = self.device.path
        if not path:
            raise InvalidArgument(f"{self.device} has no USB path: the device is not there")
        return ["--usb-path", str(path)]

    def _wait_for_device(self) -> None:
        """A crash-dump device only exists while the board is in download mode."""
        self.target.await_resources([self.device], timeout=self.timeout)

    def _common(self) -> list[str]:
        return [*self._selector(), "--timeout", f"{self.timeout:g}"]

    # -- the operations --------------------------------------------------------------------

    @_active
    @_step(args=["output"], result=True)
    def pull(self, output: str | os.PathLike[str], *, regions: Sequence[str] = (),
             exclude: Sequence[str] = (), after: str | None = None,
             chunk_size: int | None = None, elf: bool = True, keep_going: bool = False,
             resume: bool = False) -> PullResult:
        """Pull every selected region into ``output`` (``qdlpy pull``'s folder contract).

        ``output`` must be new or empty unless ``resume``. On a remote place the pull runs
        on the exporter and its folder is copied here, also after a failure (the raised
        error's ``details["output_dir"]`` names what was saved).
        """
        folder = Path(output)
        _check_output(folder, resume)
        self._wait_for_device()
        args = ["pull", *self._common(), "--progress", "none"]
        args += [f"--region={r}" for r in regions] + [f"--exclude={x}" for x in exclude]
        args += [f"--after={after}"] if after else []
        args += [f"--chunk-size={chunk_size}"] if chunk_size else []
        args += [] if elf else ["--no-elf"]
        args += ["--keep-going"] if keep_going else []
        if self._remote:
            return self._pull_remote(args, folder, resume)
        code, doc = self._runner().json([*args, "-o", str(folder)]
                                        + (["--resume"] if resume else []))
        if code != 0:
            raise results.error_from(doc)
        return results.pull_result(doc, folder)

    def _pull_remote(self, args: list[str], folder: Path, resume: bool) -> PullResult:
        if resume:
            raise InvalidArgument("resume is not possible on a remote place: the exporter "
                                  "keeps no copy of the folder", hint="pull into a new folder")
        runner = self._runner()
        temp = runner.make_temp_dir()
        remote_dir = f"{temp}/dump"
        try:
            code, doc = runner.json([*args, "-o", remote_dir])
            saved = code == 0 or "output_dir" in (doc.get("error") or {})
            if saved:
                runner.fetch(remote_dir, folder)
        finally:
            runner.remove(temp)
        if code != 0:
            raise results.error_from(doc, folder if saved else None)
        return results.pull_result(doc, folder)

    @_active
    @_step(result=True)
    def regions(self) -> RegionsResult:
        """The device's region table; the device keeps waiting (``qdlpy regions``)."""
        self._wait_for_device()
        code, doc = self._runner().json(["regions", *self._common()])
        if code != 0:
            raise results.error_from(doc)
        return results.regions_result(doc)

    @_active
    @_step(args=["force"], result=True)
    def reset(self, force: bool = False) -> ResetResult:
        """RESET the device; one that still holds a crash dump needs ``force``."""
        self._wait_for_device()
        code, doc = self._runner().json(["reset", *self._common(),
                                         *(["--force"] if force else [])])
        if code != 0:
            raise results.error_from(doc)
        return results.reset_result(doc)


def _check_output(folder: Path, resume: bool) -> None:
    if resume:
        return
    try:
        busy = folder.exists() and (not folder.is_dir() or any(folder.iterdir()))
    except OSError as exc:
        raise OutputExists(f"cannot use {folder}: {exc.strerror or exc}") from exc
    if busy:
        raise OutputExists(f"output folder {folder} is not empty")

