"""Headless Chromium (Debian's `chromium`) for the tests that render a page: `chromium(work,
*args)` runs it once with a throwaway profile under `work`; `visible_text(dom)` is the text a
person sees in a dumped DOM (scripts and tags removed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

#: mark a test module with this: skipped only where the browser is absent
needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed"
)


def chromium(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = work / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def visible_text(dom: str) -> str:
    """The rendered text of a dumped DOM: no scripts or styles, tags removed, spaces folded."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
