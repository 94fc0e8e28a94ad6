"""Wall time of every tutorial, run top to bottom on a fresh kernel, as a learner runs it.

Each notebook is executed with nbclient in a temporary copy of ``tutorials/`` (nothing is written
to the repository), one after the other, with this interpreter's ``python3`` kernel. Prints one
line per notebook and, last, ``tutorials total: <seconds> s``.

Run: ``python bench/notebooks.py`` (``--only 01`` runs the notebooks whose name contains 01).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def run(path: Path, workdir: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only notebooks whose file name contains this")
    args = parser.parse_args()
    notebooks = [p for p in sorted(TUTORIALS.glob("*.ipynb")) if args.only in p.name]
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "tutorials"
        shutil.copytree(TUTORIALS, workdir)
        for path in notebooks:
            seconds = run(path, workdir)
            total += seconds
            print(f"{path.name:<36} {seconds:6.1f} s", flush=True)
    print(f"tutorials total: {total:.1f} s")


if __name__ == "__main__":
    main()
