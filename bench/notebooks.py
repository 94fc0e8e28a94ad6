"""Wall time of every tutorial, run top to bottom on a fresh kernel, as a learner runs it.

Each notebook is executed with nbclient in a temporary copy of ``tutorials/`` (nothing is written
to the repository), one after the other, with this interpreter's ``python3`` kernel and the
environment as it is (set no ``OMP_NUM_THREADS``: the package's own thread defaults are part of
what is measured). Prints one line per notebook and, last, ``tutorials total: <seconds> s``.

``--busy`` runs every notebook twice, alone and then beside one busy process (a pure-Python loop
that keeps one core busy, as another program would), and prints both times and their ratio. On a
machine with few cores this is where torch's OpenMP threads can spin-wait for each other.

``--against-release`` runs tutorials 00-05 of the release before issue 14 ("speed",
``bench/release.py``; its package and notebooks from git history) next to today's, notebook by
notebook in turn, so that the machine's drift slows both alike, and prints the ratio of the totals.
That issue measured the old tutorials at 126 s; the ratio times 126 s is today's total at the speed
the machine had then.

Run: ``python bench/notebooks.py`` (``--only 01`` runs the notebooks whose name contains 01).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import nbformat
from nbclient import NotebookClient

from release import RELEASE_BEFORE_SPEEDUP, TUTORIALS_WHEN_FILED, release_checkout

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def run(path: Path, workdir: Path, package: Path | None = None) -> float:
    """Seconds to run ``path`` top to bottom in ``workdir`` on a fresh kernel; ``package``: a folder
    holding another ``binn_lite`` for the kernel to import (put first on its PYTHONPATH)."""
    notebook = nbformat.read(path, as_version=4)
    before = os.environ.get("PYTHONPATH")
    if package is not None:  # the kernel inherits this process's environment
        os.environ["PYTHONPATH"] = str(package)
    try:
        start = time.perf_counter()
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
        return time.perf_counter() - start
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def against_release(only: str) -> None:
    """Tutorials 00-05 now and in the release before issue 14, in turn; totals and their ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        old = release_checkout(RELEASE_BEFORE_SPEEDUP, Path(tmp) / "release", ("binn_lite", "tutorials"))
        if old is None:
            raise SystemExit(f"no git history of {RELEASE_BEFORE_SPEEDUP} here (a clone with its history is needed)")
        workdir = Path(tmp) / "now" / "tutorials"
        shutil.copytree(TUTORIALS, workdir)
        totals = {"now": 0.0, "release": 0.0}
        for path in sorted(TUTORIALS.glob("0[0-5]*.ipynb")):
            if only not in path.name:
                continue
            seconds = {"release": run(old / "tutorials" / path.name, old / "tutorials", package=old),
                       "now": run(path, workdir)}
            for name, value in seconds.items():
                totals[name] += value
            print(f"{path.name:<36} now {seconds['now']:6.1f} s   release {seconds['release']:6.1f} s", flush=True)
    if not totals["release"]:
        raise SystemExit(f"no tutorial 00-05 matches --only {only!r}")
    ratio = totals["now"] / totals["release"]
    print(f"tutorials 00-05: now {totals['now']:.1f} s, release before issue 14 ({RELEASE_BEFORE_SPEEDUP}) "
          f"{totals['release']:.1f} s: {ratio:.2f}x the time; at the speed of the day issue 14 measured that "
          f"release ({TUTORIALS_WHEN_FILED:.0f} s): {ratio * TUTORIALS_WHEN_FILED:.1f} s")


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """One other process keeping a core busy for the duration of the block."""
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        loop.kill()
        loop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only notebooks whose file name contains this")
    parser.add_argument("--busy", action="store_true", help="also run each notebook beside one busy process")
    parser.add_argument("--against-release", action="store_true",
                        help="run tutorials 00-05 next to those of the release before issue 14, in turn")
    args = parser.parse_args()
    if args.against_release:
        if args.busy:
            parser.error("--busy and --against-release are separate runs; choose one")
        against_release(args.only)
        return
    notebooks = [p for p in sorted(TUTORIALS.glob("*.ipynb")) if args.only in p.name]
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start")
    total, total_busy = 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "tutorials"
        shutil.copytree(TUTORIALS, workdir)
        for path in notebooks:
            seconds = run(path, workdir)
            total += seconds
            line = f"{path.name:<36} {seconds:6.1f} s"
            if args.busy:
                with busy_core():
                    busy = run(path, workdir)
                total_busy += busy
                line += f"   beside a busy process {busy:6.1f} s ({busy / seconds:.1f}x)"
            print(line, flush=True)
    if args.busy:
        print(f"tutorials total beside a busy process: {total_busy:.1f} s ({total_busy / total:.1f}x)")
    print(f"tutorials total: {total:.1f} s")


if __name__ == "__main__":
    main()
