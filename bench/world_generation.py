"""Benchmark: generate worlds at scales S, M and L; print time, rows per object and peak RSS.

Usage: `.venv/bin/python bench/world_generation.py [S M L] [--dir DIR] [--advance DAYS]`.
Each scale runs in its own subprocess so that its peak RSS (`resource.getrusage`'s
`ru_maxrss` of that process) is its own; `--advance` also times advancing the clock.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from sandbox.world import advance, generate
t = time.perf_counter()
s = generate(Path(sys.argv[1]), seed=7, scale=sys.argv[2])
secs = time.perf_counter() - t
cpu = resource.getrusage(resource.RUSAGE_SELF)
out = {"seconds": secs, "cpu": cpu.ru_utime + cpu.ru_stime,
       "counts": [[a, b, n] for (a, b), n in s.counts.items()],
       "discrepancies": s.discrepancies, "maxrss_kb": cpu.ru_maxrss}
if int(sys.argv[3]):
    t = time.perf_counter()
    a = advance(Path(sys.argv[1]), int(sys.argv[3]))
    out["advance_seconds"] = time.perf_counter() - t
    out["advance_changes"] = sum(a.changes.values())
    out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


def run(scale: str, base: Path, days: int) -> dict:
    """Generate one scale in a subprocess (then advance `days`) and return its figures."""
    world = base / f"world-{scale}"
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(world), scale, str(days)],
        check=True,
        capture_output=True,
        text=True,
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
    parser.add_argument("--advance", type=int, default=0, help="days to advance after")
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="q2c-world-bench-"))
    for scale in args.scales:
        f = run(scale, base, args.advance)
        total = sum(n for s, o, n in f["counts"] if not o.endswith(":live"))
        print(
            f"scale {scale}: generate {f['seconds']:.1f} s (CPU {f['cpu']:.1f} s; load "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs), "
            f"peak RSS {f['maxrss_kb'] / 1024:.0f} MiB, {total:,} rows, "
            f"{total / f['seconds']:,.0f} rows/s, {f['disk_mb']:.0f} MB on disk"
        )
        if "advance_seconds" in f:
            print(
                f"  advance {args.advance} day(s): {f['advance_seconds']:.1f} s, "
                f"{f['advance_changes']:,} changes recorded"
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
