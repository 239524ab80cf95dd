"""`python -m bench` (`make bench`): the benchmarks and how to run each; each prints its figures.

Run one with `python -m bench.<name> --help` for its options. Without arguments this lists them;
`python -m bench all` runs each at its small default scale, one after the other.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path


def _benchmarks() -> list[tuple[str, str]]:
    out = []
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("_"):
            continue
        doc = (importlib.import_module(f"bench.{info.name}").__doc__ or "").strip()
        out.append((info.name, doc.splitlines()[0] if doc else ""))
    return sorted(out)


def main(argv: list[str]) -> int:
    benches = _benchmarks()
    if argv[:1] != ["all"]:
        for name, summary in benches:
            print(f"python -m bench.{name:<20} {summary}")
        return 0
    failed = 0
    for name, _ in benches:
        print(f"\n== bench.{name}", flush=True)
        failed += subprocess.call([sys.executable, "-m", f"bench.{name}"]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
