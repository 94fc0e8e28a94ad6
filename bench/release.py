"""The code of an earlier release, from git history, for benchmarks that time it next to today's.

The machine's speed drifts (up to ~1.6x within an hour on the 2-core machine), so a figure taken
today is compared with a figure taken when an issue was filed only through code timed side by side:
``bench/solver.py`` and ``bench/notebooks.py --against-release`` run :data:`RELEASE_BEFORE_SPEEDUP`
next to this checkout.
"""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

#: the last commit before issue 14 ("speed"); that issue measured its whole model at 0.056 ms per
#: site, its quickstart at 39.7 s and its tutorials 00-05 at 126 s
RELEASE_BEFORE_SPEEDUP = "ca81db7"
#: what issue 14 measured that release's tutorials 00-05 at, in seconds
TUTORIALS_WHEN_FILED = 126.0


def release_checkout(rev: str, into: Path, paths: tuple[str, ...] = ("binn_lite",)) -> Path | None:
    """``paths`` of commit ``rev`` extracted under ``into`` (None outside a git clone that has it)."""
    root = Path(__file__).resolve().parent.parent
    try:
        archive = subprocess.run(["git", "-C", str(root), "archive", rev, *paths], capture_output=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.10.12 / 3.11.4
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(into, **safe)
    return into
