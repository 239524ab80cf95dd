"""`python -m sandbox.world generate --dir D --scale S --seed 7 [--profile messy]` and
`advance --dir D --days N`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from sandbox.world.config import DEFAULT_NOW, SCALES
from sandbox.world.profiles import PROFILES


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.world")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a new world")
    gen.add_argument("--dir", required=True, type=Path)
    gen.add_argument("--scale", default="S", choices=sorted(SCALES))
    gen.add_argument("--seed", default=7, type=int)
    gen.add_argument(
        "--profile",
        default="default",
        choices=sorted(PROFILES),
        help="how the company's systems are set up (sandbox/world/profiles)",
    )
    gen.add_argument(
        "--now", default=DEFAULT_NOW.isoformat(), help="the world's clock, ISO 8601 with offset"
    )
    adv = sub.add_parser("advance", help="add the activity of the next days")
    adv.add_argument("--dir", required=True, type=Path)
    adv.add_argument("--days", default=1, type=int)
    args = parser.parse_args(argv)
    if args.command == "generate":
        from sandbox.world.generate import generate

        now = datetime.fromisoformat(args.now)
        if now.tzinfo is None:
            parser.error("--now needs a UTC offset, e.g. 2026-11-01T00:00:00+00:00")
        s = generate(args.dir, seed=args.seed, scale=args.scale, now=now, profile=args.profile)
        print(f"world {s.scale} seed {s.seed} ({s.profile}) in {s.world_dir}: {s.seconds:.1f} s")
        for (system, obj), n in sorted(s.counts.items()):
            print(f"  {system:<10} {obj:<28} {n:>10,}")
        print(f"  discrepancies: {sum(s.discrepancies.values())} of {len(s.discrepancies)} kinds")
        return 0
    from sandbox.world.advance import advance

    a = advance(args.dir, args.days)
    print(f"advanced {args.days} day(s) to {a.now}: {sum(a.changes.values())} changes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
