"""``qdlpy report TARGET...``: field triage of dumps without vmlinux.

One target: one screen (kernel, build ID, uptime, panic and call trace, last log lines,
taint, regions and what their absence costs, device and pull status). Several: a table,
one row per dump; ``--group`` clusters them by crash signature. ``--json``: one
``qdlpy.report/1`` document for one target; JSON lines (one document per target, or one
``qdlpy.report-group/1`` document per group with ``--group``) for several. Schemas:
docs/triage.md#json-schemas.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from qdlpy.cli import output as ui
from qdlpy.cli.options import json_option
from qdlpy.errors import InputError, QdlpyError
from qdlpy.triage.report import Report, report
from qdlpy.triage.signature import group

SCHEMA = "qdlpy.report/1"
GROUP_SCHEMA = "qdlpy.report-group/1"


@click.command("report")
@click.argument("targets", metavar="ELF|DIR...", nargs=-1, required=True, type=click.Path())
@click.option("--vmlinux-dir", "vmlinux_dirs", multiple=True, metavar="DIR",
              type=click.Path(file_okay=False),
              help="Search DIR (and .build-id/ below it) for the vmlinux with the dump's "
                   "build ID (repeatable).")
@click.option("--no-debuginfod", is_flag=True,
              help="Do not ask the debuginfod servers in DEBUGINFOD_URLS for the build ID.")
@click.option("--group", "grouped", is_flag=True,
              help="Cluster the dumps by crash signature (first panic/oops line and top "
                   "frames, addresses/PIDs/CPUs normalised).")
@json_option
def command(targets: tuple[str, ...], vmlinux_dirs: tuple[str, ...], no_debuginfod: bool,
            grouped: bool, as_json: bool) -> None:
    """Triage dumps without vmlinux: kernel, panic and call trace, taint, what is missing.

    Each ELF|DIR is an ELF core or a dump folder (assembled in memory; nothing written).
    Exit codes: 0 reported, 10 a target is not a usable dump (with several targets, the
    others are still reported).
    """
    opts = {"vmlinux_dirs": vmlinux_dirs, "debuginfod": not no_debuginfod}
    if len(targets) == 1 and not grouped:
        ui.start_json(SCHEMA if as_json else None)
        rep = report(targets[0], **opts)  # type: ignore[arg-type]
        if as_json:
            ui.emit_json(ui.document(SCHEMA, rep.to_dict()))
        else:
            _screen(rep)
        return
    results: list[tuple[str, Report | QdlpyError]] = []
    for t in targets:
        try:
            results.append((t, report(t, **opts)))  # type: ignore[arg-type]
        except QdlpyError as exc:
            results.append((t, exc))
    st = ui.state()
    if as_json:
        docs = _group_docs(results) if grouped else [_doc(t, r) for t, r in results]
        for doc in docs:
            sys.stdout.write(json.dumps(doc, default=str) + "\n")
        sys.stdout.flush()
        st.json_emitted = True
    elif grouped:
        _groups(results)
    else:
        _table(results)
    failed = [t for t, r in results if isinstance(r, QdlpyError)]
    if failed:
        raise InputError(f"{len(failed)} of {len(targets)} targets could not be read: "
                         f"{', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''}",
                         hint="run `qdlpy report` on one of them to see why")


def _doc(target: str, r: Report | QdlpyError) -> dict[str, Any]:
    if isinstance(r, QdlpyError):
        return ui.document(SCHEMA, {"status": "error", "target": target, "error": r.to_dict()})
    return ui.document(SCHEMA, r.to_dict())


def _group_docs(results: list[tuple[str, Report | QdlpyError]]) -> list[dict[str, Any]]:
    docs = []
    reports = [(t, r) for t, r in results if isinstance(r, Report)]
    for sig, members in group((t, r.signature) for t, r in reports):
        example = next(r for t, r in reports if t == members[0])
        docs.append(ui.document(GROUP_SCHEMA, {
            "signature": sig.to_dict() if sig else None, "count": len(members),
            "targets": members, "first_line": example.incident.first_line
            if example.incident else None, "panic_line": example.panic_line,
            "releases": sorted({r.kernel.release or "?" for t, r in reports if t in members})}))
    for t, r in results:
        if isinstance(r, QdlpyError):
            docs.append(_doc(t, r))
    return docs


def _out() -> Console:
    return Console(markup=False, highlight=False, soft_wrap=True)


def _kernel_line(rep: Report) -> str:
    k = rep.kernel
    parts = [k.release or "unknown release"]
    if k.version:
        parts.append(k.version)
    if k.machine:
        parts.append(f"({k.machine})")
    if k.nodename:
        parts.append(f"node {k.nodename}")
    return " ".join(parts)


def _build_id_line(rep: Report) -> str:
    k, look = rep.kernel, rep.build_id_lookup
    if not k.build_id:
        return "none in VMCOREINFO"
    if look is None:
        return k.build_id
    if look.vmlinux:
        return f"{k.build_id}  vmlinux: {look.vmlinux}"
    found = [d["url"] for d in look.debuginfod if d["status"] == "found"]
    if found:
        return f"{k.build_id}  debuginfod: {found[0]}"
    tried = ("searched " + ", ".join(look.searched)) if look.searched else ""
    asked = "; ".join(f"{d['url']}: {d['status']}" for d in look.debuginfod)
    where = "; ".join(x for x in (tried, asked) if x)
    return f"{k.build_id}  ({where or 'no --vmlinux-dir and no DEBUGINFOD_URLS'})"


def _log_line(rep: Report) -> str:
    if rep.log is None:
        return f"none: {(rep.log_error or {}).get('message', '?')}"
    text = f"{rep.log.layout}: {len(rep.log.records)} records"
    if rep.log.skipped:
        text += f", {rep.log.skipped_total} skipped ({rep.log.skipped_text()})"
    if rep.log.layout.startswith("vendor"):
        text += f"\n          {rep.log.detail}"
    return text


def _taint_line(rep: Report) -> str:
    t = rep.taint
    if t is None:
        return "unknown (no tainted_mask region, no Tainted: line in the log)"
    if not t.letters:
        return f"not tainted ({t.source})"
    return f"{t.letters}: {', '.join(t.names)} ({t.source})"


def _screen(rep: Report) -> None:
    c = _out()
    c.print(f"{rep.target}: {rep.kind}")
    rows = [("kernel", _kernel_line(rep)), ("build id", _build_id_line(rep)),
            ("uptime", f"{rep.uptime_s:.6f} s (last log record)" if rep.uptime_s is not None
             else "unknown (no log)"), ("log", _log_line(rep)), ("taint", _taint_line(rep))]
    if rep.panic_line:
        rows.append(("panic", rep.panic_line))
    if rep.signature:
        rows.append(("signature", f"{rep.signature.id}  {rep.signature.text}"))
    for name, value in rows:
        c.print(f"{name:<9} {value}")
    if rep.incident is not None:
        inc = rep.incident
        c.print(f"\n{inc.kind} at [{inc.ts_nsec / 1e9:12.6f}]:")
        for line in inc.lines:
            c.print(f"  {line}")
    if rep.log is not None and rep.log.records:
        c.print("\nlast log lines:")
        for line in rep.last_lines():
            c.print(f"  {line}")
    _regions(c, rep)
    _device(c, rep)
    for w in rep.warnings:
        sys.stderr.write(f"warning: {w}\n")


def _regions(c: Console, rep: Report) -> None:
    if not rep.regions:
        return
    present = [r.name for r in rep.regions if r.status == "present"]
    c.print(f"\nregions present: {', '.join(present) or 'none'}")
    for r in rep.regions:
        if r.status != "present":
            c.print(f"  {r.status}: {r.name} ({r.detail}): {r.cost}")


def _device(c: Console, rep: Report) -> None:
    if rep.device is None and rep.pull is None:
        return
    d = rep.device or {}
    who = ", ".join(f"{k} {d[k]}" for k in ("serial", "usb_path", "product", "transport")
                    if d.get(k))
    c.print(f"\ndevice    {who or 'unknown'}")
    p = rep.pull or {}
    if p:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(p.get("by_status", {}).items()))
        c.print(f"pull      {p.get('status')} ({counts}); started {p.get('started')}")
        if p.get("incomplete"):
            c.print(f"          incomplete regions: {', '.join(p['incomplete'][:10])}")


def _table(results: list[tuple[str, Report | QdlpyError]]) -> None:
    table = Table()
    for col in ("target", "release", "machine", "uptime s", "records", "panic / first incident",
                "signature"):
        table.add_column(col, overflow="fold")
    for t, r in results:
        if isinstance(r, QdlpyError):
            table.add_row(t, "-", "-", "-", "-", f"error: {r.message}", "-")
            continue
        what = r.panic_line or (r.incident.first_line if r.incident else "-")
        table.add_row(t, r.kernel.release or "?", r.kernel.machine or "?",
                      f"{r.uptime_s:.3f}" if r.uptime_s is not None else "-",
                      str(len(r.log.records)) if r.log else "no log", what,
                      r.signature.id if r.signature else "-")
    Console(markup=False, highlight=False, width=200).print(table)


def _groups(results: list[tuple[str, Report | QdlpyError]]) -> None:
    c = _out()
    reports = [(t, r) for t, r in results if isinstance(r, Report)]
    for sig, members in group((t, r.signature) for t, r in reports):
        head = f"{sig.id}  {sig.kind}  {sig.text}" if sig else "no panic or oops in the log"
        c.print(f"{len(members):>4} dump(s)  {head}")
        for m in members:
            c.print(f"      {m}")
    for t, r in results:
        if isinstance(r, QdlpyError):
            c.print(f"error  {t}: {r.message}")
