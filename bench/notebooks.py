"""Wall time of every tutorial, run top to bottom on a fresh kernel, as a learner runs it.

Each notebook is executed with nbclient in a temporary copy of ``tutorials/`` (nothing is written
to the repository), one after the other, with this interpreter's ``python3`` kernel and the
environment as it is (set no ``OMP_NUM_THREADS``: the package's own thread defaults are part of
what is measured). Prints one line per notebook and, last, ``tutorials total: <seconds> s``.

``--busy`` runs every notebook twice, alone and then beside one busy process (a pure-Python loop
that keeps one core busy, as another program would), and prints both times and their ratio. On a
machine with few cores this is where torch's OpenMP threads can spin-wait for each other.

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

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def run(path: Path, workdir: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return time.perf_counter() - start


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
    args = parser.parse_args()
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
