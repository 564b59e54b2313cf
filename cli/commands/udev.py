"""``qdlpy udev show|install``: print or install the udev rule for non-root access."""

from __future__ import annotations

import sys

import click

from qdlpy import udev_rules


@click.group("udev")
def command() -> None:
    """Show or install qdlpy's udev rule (60-qdlpy.rules).

    The rule lets the logged-in desktop user open Qualcomm EDL / crash-dump devices
    (TAG+="uaccess") and tells ModemManager to ignore them. It never blacklists
    qcserial and never makes the device world-writable.
    """


@command.command("show")
@click.option("--group", metavar="GROUP",
              help='Show the variant with GROUP="GROUP", MODE="0660" (headless runners).')
def show(group: str | None) -> None:
    """Print the rule (as it would be installed) on stdout."""
    sys.stdout.write(udev_rules.render(group))


@command.command("install")
@click.option("--group", metavar="GROUP",
              help='Also grant GROUP read/write (GROUP="GROUP", MODE="0660"): for CI runners '
                   "and ssh sessions, which get no uaccess ACL.")
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
@click.option("--no-reload", is_flag=True,
              help="Only write the file; do not run udevadm control/trigger.")
@click.option("--root", "root", default="/", hidden=True, type=click.Path(file_okay=False),
              help="Install under this directory instead of / (tests, image builds).")
def install(group: str | None, dry_run: bool, no_reload: bool, root: str) -> None:
    """Write /etc/udev/rules.d/60-qdlpy.rules and reload udev (needs root).

    Run it as: sudo "$(command -v qdlpy)" udev install [--group GROUP]
    Then re-plug the device.
    """
    # udevadm acts on the running system, so it is skipped for an alternative --root.
    reload = not no_reload and root == "/"
    result = udev_rules.install(group=group, root=root, dry_run=dry_run, reload=reload)
    err = sys.stderr
    if dry_run:
        err.write(f"would write {result.path}:\n")
        sys.stdout.write(result.content)
        for argv in result.commands:
            err.write(f"would run: {' '.join(argv)}\n")
    else:
        if result.unchanged:
            err.write(f"{result.path} is already up to date\n")
        else:
            err.write(f"wrote {result.path}\n")
        for argv in result.commands:
            err.write(f"ran: {' '.join(argv)}\n")
    for note in result.notes:
        err.write(f"note: {note}\n")
