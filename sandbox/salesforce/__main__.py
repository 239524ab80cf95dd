"""Serve the Salesforce stand-in in its own process (for benchmarks and manual use).

`python -m sandbox.salesforce --world DIR --port N --certfile C --keyfile K [--faults JSON]`
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn

from sandbox.salesforce.app import create_app


def main() -> None:
    """Parse the arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certfile", required=True)
    parser.add_argument("--keyfile", required=True)
    parser.add_argument("--faults", default="{}", help="initial faults as a JSON object")
    args = parser.parse_args()
    app = create_app(args.world, json.loads(args.faults))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
