"""The one Dagster entry point: composes the per-source and per-stage modules."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions(assets=[])
