"""Run in a subprocess by the tests: what drgn reads from a core with a given vmlinux.

``python drgn_probe.py VMLINUX CORE`` prints one JSON object:
``{"nodename": ..., "release": ..., "records": N, "texts": [...last 400 record texts]}``.
A subprocess keeps drgn's DWARF index (hundreds of MB for the Debian vmlinux) out of the
pytest process and lets the caller apply a timeout.
"""

from __future__ import annotations

import json
import sys

import drgn
from drgn.helpers.linux.printk import get_printk_records


def main(vmlinux: str, core: str) -> int:
    prog = drgn.Program()
    prog.set_core_dump(core)
    prog.load_debug_info([vmlinux])
    uts = prog["init_uts_ns"].name
    records = get_printk_records(prog)
    out = {
        "nodename": uts.nodename.string_().decode(errors="replace"),
        "release": uts.release.string_().decode(errors="replace"),
        "records": len(records),
        "texts": [r.text.decode(errors="replace") for r in records[-400:]],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
