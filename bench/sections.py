"""Wall time of every "## " section of every tutorial, for the instructor guide's timetable.

Each ``tutorials/*.ipynb`` is executed top to bottom on a fresh ``python3`` kernel with nbclient,
one after the other, in a temporary copy of ``tutorials/`` (nothing is written to the repository),
with one CPU thread (``OMP_NUM_THREADS=1``, as ``make test`` runs them). A section is a markdown
cell starting with ``## `` and every cell up to the next one; its time is the sum of the wall times
of its code cells (what a learner waits for, not the reading). Cells before the first ``## ``
count as ``(start)``.

Prints one markdown table per notebook and a table of totals, and writes the same tables, headed
by when and where they were measured, to ``book/_generated/section_times.md``: the instructor
guide (``book/instructor_guide.md``) includes that file, so re-running this script updates the
guide's numbers.

Run: ``python bench/sections.py`` (``--only 03`` runs the notebooks whose name contains 03;
``--out -`` prints without writing the file, as ``--only`` does). Takes as long as the tutorials (several minutes).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"  # before torch or a kernel starts: the kernels inherit it
os.environ["MKL_NUM_THREADS"] = "1"

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TUTORIALS = REPO / "tutorials"
OUTPUT = REPO / "book" / "_generated" / "section_times.md"
START = "(start)"


@dataclass
class Section:
    """One ``## `` section of a notebook: its title and the wall time of each of its code cells."""

    title: str
    cell_seconds: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(self.cell_seconds)


def section_title(cell: dict) -> str | None:
    """The title of a markdown cell that opens a ``## `` section, else None."""
    if cell.cell_type != "markdown":
        return None
    for line in cell.source.splitlines():
        if line.startswith("## "):
            return line[3:].strip()
    return None


def execute(path: Path, workdir: Path) -> tuple[list[Section], float]:
    """Run one notebook on a fresh kernel; its sections and the total wall time (kernel start included)."""
    notebook = nbformat.read(path, as_version=4)
    started: dict[int, float] = {}
    seconds: dict[int, float] = {}

    def on_cell_execute(cell, cell_index, **_):
        started[cell_index] = time.perf_counter()

    def on_cell_executed(cell, cell_index, **_):
        seconds[cell_index] = time.perf_counter() - started[cell_index]

    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}},
                            on_cell_execute=on_cell_execute, on_cell_executed=on_cell_executed)
    start = time.perf_counter()
    client.execute()
    total = time.perf_counter() - start

    sections = [Section(START)]
    for index, cell in enumerate(notebook.cells):
        title = section_title(cell)
        if title is not None:
            sections.append(Section(title))
        if index in seconds:
            sections[-1].cell_seconds.append(seconds[index])
    if not sections[0].cell_seconds:
        sections.pop(0)
    return sections, total


def _minutes(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def notebook_table(name: str, sections: list[Section], total: float) -> str:
    rows = [f"### {name}", "", "| section | code cells | compute time |", "| --- | ---: | ---: |"]
    rows += [f"| {s.title} | {len(s.cell_seconds)} | {_minutes(s.seconds)} |" for s in sections]
    rows.append(f"| **whole notebook** (kernel start included) | | **{_minutes(total)}** |")
    return "\n".join(rows)


def totals_table(totals: dict[str, float]) -> str:
    rows = ["| notebook | compute time |", "| --- | ---: |"]
    rows += [f"| {name} | {_minutes(seconds)} |" for name, seconds in totals.items()]
    rows.append(f"| **all** | **{_minutes(sum(totals.values()))}** |")
    return "\n".join(rows)


def provenance() -> str:
    """When and where: date, machine, versions, git commit."""
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "tutorials"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
        commit += " (tutorials with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    load = "n/a"
    if hasattr(os, "getloadavg"):
        load = "{:.1f}".format(os.getloadavg()[0])
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"Measured by `python bench/sections.py` on {when}: {platform.machine()} "
            f"{platform.system()}, {os.cpu_count()} CPU cores (load average {load} at the end), one thread, "
            f"Python {platform.python_version()}, torch {torch.__version__}, commit {commit}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only notebooks whose file name contains this")
    parser.add_argument("--out", default=None,
                        help=f"markdown file to write ('-': print only; default {OUTPUT.relative_to(REPO)}, "
                             "or print only with --only)")
    args = parser.parse_args()
    if args.out is None:
        args.out = "-" if args.only else str(OUTPUT)
    notebooks = [p for p in sorted(TUTORIALS.glob("*.ipynb")) if args.only in p.name]
    if not notebooks:
        raise SystemExit(f"no notebook in {TUTORIALS} matches {args.only!r}")

    tables, totals = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "tutorials"
        shutil.copytree(TUTORIALS, workdir)
        for path in notebooks:
            sections, total = execute(path, workdir)
            totals[path.stem] = total
            tables.append(notebook_table(path.stem, sections, total))
            print(tables[-1] + "\n", flush=True)

    text = "\n\n".join([provenance(), totals_table(totals), *tables]) + "\n"
    print(totals_table(totals))
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"written to {out}")


if __name__ == "__main__":
    main()
