"""Build the course website: execute the tutorials, then build the Jupyter Book with warnings as errors.

1. Every ``tutorials/*.ipynb`` is executed top to bottom on a fresh ``python3`` kernel (nbclient),
   in a temporary copy of ``tutorials/`` so that nothing the notebooks write lands in the
   repository, ``--jobs`` notebooks at a time (default 2), each kernel with one CPU thread
   (``OMP_NUM_THREADS=1``: two threads per kernel on two cores make torch spin-wait). A cell that
   raises stops the build, naming the notebook. The executed copies, outputs included, go to
   ``book/tutorials/`` (not in git).
2. ``jupyter-book build book --warningiserror --keep-going``: the tutorials as executed, the
   pages in ``book/*.md`` and the API reference from the docstrings. Any Sphinx warning fails
   the build (after all warnings are listed). The site is ``book/_build/html/index.html``.

Run: ``make book``, or ``python book/build.py`` (``--no-execute`` copies the notebooks without
running them, for a quick look at the other pages; ``--jobs 1`` runs one notebook at a time).
Exits with the status of the failing step.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BOOK = Path(__file__).resolve().parent
REPO = BOOK.parent
TUTORIALS = REPO / "tutorials"
EXECUTED = BOOK / "tutorials"
#: what the build writes; removed first so that nothing stale survives (e.g. a renamed notebook)
GENERATED = (EXECUTED, BOOK / "api", BOOK / "_build")


def execute(source: Path, workdir: Path, destination: Path) -> float:
    """Run ``source`` with ``workdir`` as its folder; write it, outputs included, to ``destination``."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(source, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    nbformat.write(notebook, destination)
    return time.perf_counter() - start


def execute_all(notebooks: list[Path], jobs: int) -> None:
    """Execute ``notebooks`` into :data:`EXECUTED`, ``jobs`` at a time; raise naming a failure."""
    with tempfile.TemporaryDirectory(prefix="binn-book-") as tmp:
        workdir = Path(tmp) / "tutorials"
        shutil.copytree(TUTORIALS, workdir)
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {path: pool.submit(execute, path, workdir, EXECUTED / path.name) for path in notebooks}
            failed = []
            for path, future in futures.items():
                try:
                    print(f"  executed {path.name:<36} {future.result():6.1f} s", flush=True)
                except Exception as error:  # noqa: BLE001 - reported with the notebook's name
                    failed.append(f"{path.name}: {type(error).__name__}: {error}")
    if failed:
        raise SystemExit("book: a tutorial failed to execute:\n" + "\n".join(failed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at the same time (default 2)")
    parser.add_argument("--no-execute", action="store_true",
                        help="copy the tutorials without running them (a quick look at the other pages)")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # the kernels and Sphinx's imports inherit it
    os.environ["MKL_NUM_THREADS"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")

    notebooks = sorted(TUTORIALS.glob("*.ipynb"))
    if not notebooks:
        raise SystemExit(f"book: no tutorials in {TUTORIALS}")
    for path in GENERATED:
        shutil.rmtree(path, ignore_errors=True)
    EXECUTED.mkdir()

    start = time.perf_counter()
    if args.no_execute:
        for path in notebooks:
            shutil.copy2(path, EXECUTED / path.name)
        print(f"book: copied {len(notebooks)} tutorials without executing them")
    else:
        print(f"book: executing {len(notebooks)} tutorials, {args.jobs} at a time, one thread each")
        execute_all(notebooks, max(1, args.jobs))
    executed = time.perf_counter()

    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(BOOK),
               "--warningiserror", "--keep-going"]
    print("book: " + " ".join(command), flush=True)
    status = subprocess.run(command, cwd=REPO).returncode
    done = time.perf_counter()
    print(f"book: tutorials {executed - start:.0f} s, Sphinx {done - executed:.0f} s, total {done - start:.0f} s")
    if status == 0:
        print(f"book: the site is {BOOK / '_build' / 'html' / 'index.html'}")
    else:
        print(f"book: jupyter-book failed (status {status}); the warnings above say where", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
