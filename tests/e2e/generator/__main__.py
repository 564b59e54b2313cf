"""``python tests/e2e/generator [--arch x86_64|arm64] [--cache DIR] [--out DIR] [-v]``

Builds the real-kernel minidump folders (see pipeline.py) and prints the output folder.
Exit codes: 0 done, 1 a step failed, 77 a package is missing and cannot be installed here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the package (and tests/oracle) importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "generator"

from generator.arch import get_arch
from generator.errors import GeneratorError, MissingTool
from generator.pipeline import Options, default_cache, generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tests/e2e/generator", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="x86_64", choices=["x86_64", "arm64"])
    ap.add_argument(
        "--cache", type=Path, default=None, help="default: $QDLPY_E2E_CACHE or .cache/e2e"
    )
    ap.add_argument("--out", type=Path, default=None, help="default: CACHE/ARCH/out")
    ap.add_argument("--keep-memory-dump", action="store_true", help="keep the 256 MiB guest dump")
    ap.add_argument("--no-install", action="store_true", help="never apt-get/pip install")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
    )
    opts = Options(
        arch=get_arch(args.arch),
        cache=args.cache or default_cache(),
        out=args.out,
        keep_memory_dump=args.keep_memory_dump,
        allow_install=not args.no_install,
    )
    try:
        out = generate(opts)
    except MissingTool as e:
        sys.stderr.write(f"skip: {e.message}\nhint: {e.hint}\n")
        return 77
    except GeneratorError as e:
        sys.stderr.write(f"error: {e.message}\n")
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
