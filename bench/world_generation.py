"""Benchmark: generate worlds at scales S, M and L; print time, rows per object and peak RSS.

Usage: `.venv/bin/python bench/world_generation.py [S M L] [--dir DIR]`. Each scale runs in its
own subprocess so that its peak RSS (`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`) is its
own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from sandbox.world import generate
t = time.perf_counter()
s = generate(Path(sys.argv[1]), seed=7, scale=sys.argv[2])
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "counts": [[a, b, n] for (a, b), n in s.counts.items()],
                  "discrepancies": s.discrepancies,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run(scale: str, base: Path) -> dict:
    """Generate one scale in a subprocess and return its figures."""
    world = base / f"world-{scale}"
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(world), scale], check=True, capture_output=True, text=True
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    figures["wall"] = time.perf_counter() - t
    figures["disk_mb"] = sum(p.stat().st_size for p in world.iterdir()) / 1e6
    return figures


def main() -> None:
    """Run the requested scales and print their figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("scales", nargs="*", default=["S", "M", "L"])
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="q2c-world-bench-"))
    for scale in args.scales:
        f = run(scale, base)
        total = sum(n for s, o, n in f["counts"] if not o.endswith(":live"))
        print(
            f"scale {scale}: generate {f['seconds']:.1f} s (wall {f['wall']:.1f} s), "
            f"peak RSS {f['maxrss_kb'] / 1024:.0f} MiB, {total:,} rows, "
            f"{total / f['seconds']:,.0f} rows/s, {f['disk_mb']:.0f} MB on disk"
        )
        for system, obj, n in sorted(f["counts"]):
            print(f"  {system:<10} {obj:<28} {n:>12,}")
        print(
            f"  discrepancies: {sum(f['discrepancies'].values()):,} "
            f"in {len(f['discrepancies'])} kinds: {f['discrepancies']}"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
