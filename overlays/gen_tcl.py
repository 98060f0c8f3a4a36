"""Turn overlays/regmap.json into Tcl variables for the Vivado block design.

Vivado's Tcl has no JSON parser we can count on, and the register map must be
written in one place only, so the Makefile runs this first and the block
design script sources its output.

    python3 overlays/gen_tcl.py build/addresses.tcl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def tcl(doc: dict) -> str:
    vendor, library, version = doc["vendor"], doc["library"], doc["ip_version"]
    lines = [
        "# generated from overlays/regmap.json by overlays/gen_tcl.py: do not edit",
        f"set ce_part {doc['part']}",
        f"set ce_board_part {doc['board_part']}",
        f"set ce_clock_mhz {int(doc['clock_mhz'])}",
        f"set ce_kernels {{{' '.join(doc['kernels'])}}}",
    ]
    for name, k in doc["kernels"].items():
        lines += [
            f"set ce_vlnv({name}) {vendor}:{library}:{k['top']}:{version}",
            f"set ce_top({name}) {k['top']}",
            f"set ce_instance({name}) {k['instance']}",
            f"set ce_base({name}) {int(k['base'], 0):#010x}",
            f"set ce_range({name}) {int(k['range'], 0):#x}",
            f"set ce_hp({name}) {k['hp_port']}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: gen_tcl.py OUT.tcl", file=sys.stderr)
        return 2
    doc = json.loads((HERE / "regmap.json").read_text())
    Path(argv[0]).parent.mkdir(parents=True, exist_ok=True)
    Path(argv[0]).write_text(tcl(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
