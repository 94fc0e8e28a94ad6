"""The bundled example: 1,500 synthetic CLM5 soil profiles with known truth, as open files.

``load_example()`` reads the files in ``data/`` (installed as ``binn_lite.example_data``); they hold
exactly ``make_synthetic(**EXAMPLE_SETTINGS)``. Regenerate them, byte for byte, with

    python -m binn_lite.data --regenerate [--out DIR]
"""
from __future__ import annotations

import argparse
import os
from importlib import resources
from pathlib import Path
from typing import Sequence

from ..dataset import SiteDataset
from ..errors import MissingFileError
from .files import DATASET_FILES, read_dataset, read_truth, save_dataset
from .schema import SCIREN_COVARIATES
from .synthetic import make_synthetic

__all__ = ["EXAMPLE_SETTINGS", "example_dir", "load_example", "regenerate_example", "main"]

#: settings of the bundled example (``load_example()`` equals ``make_synthetic(**EXAMPLE_SETTINGS)``)
EXAMPLE_SETTINGS = {"n_sites": 1500, "seed": 2025, "scenario": "sciren4", "noise": 0.1}


def example_dir() -> Path:
    """Folder of the bundled example files: the repository's ``data/``.

    ``pyproject.toml`` installs ``data/`` as the package ``binn_lite.example_data``, so it is found
    both in an editable install (the repository folder) and in a normal install from PyPI or a git
    URL (``site-packages/binn_lite/example_data``).
    """
    return Path(str(resources.files("binn_lite.example_data")))


def load_example() -> SiteDataset:
    """The bundled example: 1,500 sites over the conterminous US, truth scenario ``"sciren4"``.

    Identical to ``make_synthetic(**EXAMPLE_SETTINGS)`` (tested), but read from files in well under
    a second. See ``data/README.md`` for every column and unit.
    """
    directory = example_dir()
    missing = [name for name in DATASET_FILES if not (directory / name).is_file()]
    if missing:
        raise MissingFileError(
            f"example data missing in {directory}: {', '.join(missing)}; regenerate with "
            f"`python -m binn_lite.data --regenerate`"
        )
    truth = read_truth(directory / "truth_params.csv", directory / "truth.json")
    return read_dataset(directory / "sites.csv", directory / "observations.csv", directory / "forcing.npz",
                        feature_names=SCIREN_COVARIATES, truth=truth)


def regenerate_example(directory: str | os.PathLike | None = None) -> dict[str, Path]:
    """Generate the example (:data:`EXAMPLE_SETTINGS`) and write it to ``directory``.

    Default: :func:`example_dir`. The files are identical, byte for byte, on every run.
    """
    dataset = make_synthetic(**EXAMPLE_SETTINGS)
    return save_dataset(dataset, example_dir() if directory is None else directory, settings=EXAMPLE_SETTINGS)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m binn_lite.data --regenerate [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m binn_lite.data", description=__doc__.split("\n")[0])
    parser.add_argument("--regenerate", action="store_true", help="write the bundled example files")
    parser.add_argument("--out", default=None, help="folder to write to (default: data/, the bundled example)")
    args = parser.parse_args(argv)
    if not args.regenerate:
        parser.print_help()
        return
    paths = regenerate_example(args.out)
    for path in paths.values():
        print(f"{path}  {path.stat().st_size:,d} bytes")
