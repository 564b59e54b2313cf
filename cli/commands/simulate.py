"""``qdlpy simulate``: serve a simulated crash-dump/EDL device over TCP."""

from __future__ import annotations

import click

from qdlpy.simulator.scenarios import SCENARIO_ARGS, SCENARIOS, build_model
from qdlpy.simulator.server import SimServer, parse_listen


@click.command("simulate")
@click.option("--scenario", default="kmemdump", show_default=True, metavar="NAME[:ARG][?KNOBS]",
              help="Device to play: " + ", ".join(
                  f"{n}:{SCENARIO_ARGS[n].upper()}" if n in SCENARIO_ARGS else n
                  for n in SCENARIOS)
                   + " (fulldump:512M is fulldump?size=512M). Knobs: "
                   "?lose_hello=1&fragment=7&eoi_at=ADDR&disconnect_after=N&stall_after=N"
                   "&max_packet=1024&restricted=GLOB")
@click.option("--fault", "faults", multiple=True, metavar="KEY=VALUE",
              help="Fault knob, same keys as the ?KNOBS of --scenario (repeatable).")
@click.option("--listen", default="tcp:127.0.0.1:0", show_default=True, metavar="tcp:HOST:PORT",
              help="Where to listen (port 0 picks a free port).")
@click.option("--respawn", is_flag=True,
              help="After a RESET, bring up a fresh device instead of exiting.")
def command(scenario: str, faults: tuple[str, ...], listen: str, respawn: bool) -> None:
    """Play a Qualcomm device in download mode for other processes (`qdlpy pull -t tcp:...`).

    Prints `listening on tcp:HOST:PORT` once ready. The device stays in download mode
    between connections, like hardware; it exits when a host resets it (unless --respawn).
    """
    spec = scenario
    if faults:
        spec += ("&" if "?" in spec else "?") + "&".join(faults)
    build_model(spec)  # validate the spec before listening
    host, port = parse_listen(listen)
    server = SimServer(lambda: build_model(spec), host, port, respawn=respawn)
    click.echo(f"listening on {server.uri}", err=False)
    import sys

    sys.stdout.flush()
    try:
        server.serve(on_connection=lambda peer: click.echo(f"host connected from {peer}",
                                                           err=True))
    except KeyboardInterrupt:
        pass
