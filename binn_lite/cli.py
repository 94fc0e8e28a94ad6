"""The command line: ``binn-lite train``, ``binn-lite predict``, ``binn-lite config``.

::

    binn-lite config > run.yaml             # an example run file, every section commented
    binn-lite train run.yaml                # train; outputs in the run file's outputs.dir
    torchrun --standalone --nproc-per-node 2 -m binn_lite train run.yaml   # the same, 2 processes
    binn-lite predict runs/example/binn.pt --covariates cov.nc --forcing history.nc --out map.nc
    binn-lite predict runs/example/binn.pt --data run.yaml --out sites.nc

``python -m binn_lite ...`` is the same program (what ``torchrun -m`` starts).

``train`` writes to ``outputs.dir``: ``config.yaml`` (the run file, paths absolute: repeat the run
with it), ``train_state.pt`` (the checkpoint, every ``training.checkpoint_every`` epochs: run the
same command again after an interruption and it resumes, :mod:`binn_lite.resume`), and at the end
``binn.pt`` (:meth:`~binn_lite.binn.BINN.save`), ``history.csv`` and ``predictions.nc`` (every
site, :func:`~binn_lite.grid.predict_sites`). Under torchrun only process 0 writes.

``predict`` takes one saved BINN, or several (an ensemble: the file then has the mean and the
standard deviation over them), and writes a map (``--covariates`` NetCDF of (lat, lon) covariate
variables and ``--forcing`` a CLM5 history file on the same grid, :func:`~binn_lite.grid.predict_grid`)
or the sites of a run file's ``data`` (``--data``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .errors import BinnError

__all__ = ["main", "train", "predict"]


def train(run_file: str | Path) -> Path:
    """Train the run of ``run_file`` (see the module docstring); returns the output folder."""
    from . import distributed
    from .config import load_config
    from .grid import predict_sites

    config = load_config(run_file)
    out = config.output_dir()
    device = distributed.init(config["training"].get("device", "cpu"))
    try:
        saved = out / "config.yaml"
        if distributed.is_main():
            if saved.exists() and Path(run_file).resolve() != saved.resolve() and \
                    load_config(saved).sections != config.sections:
                raise BinnError(f"{out} holds another run (its config.yaml differs from {Path(run_file).name}); "
                                "choose another outputs.dir or delete the folder")
            config.save(saved)
        dataset = config.dataset()
        binn = config.binn(len(dataset.feature_names))
        from .train import fit

        result = fit(binn, dataset, settings=config.fit_settings(out / "train_state.pt", device))
        if distributed.is_main():
            binn.save(out / "binn.pt", overwrite=True)
            result.history.to_csv(out / "history.csv", index=False)
            if config["outputs"].get("predictions", True):
                predict_sites(binn, dataset, out / "predictions.nc", overwrite=True)
            print(f"trained: best epoch {result.best_epoch}, validation NSE {result.best_val_nse:.4f}; outputs in {out}")
    finally:
        distributed.shutdown()
    return out


def predict(models: Sequence[str], out: str, covariates: str | None = None, forcing: str | None = None,
            data: str | None = None, chunk_size: int | None = None, device: str = "cpu",
            overwrite: bool = False) -> Path:
    """Predict a map (``covariates`` + ``forcing``) or the sites of a run file (``data``) to ``out``."""
    import torch

    from .binn import BINN
    from .config import load_config
    from .grid import DEFAULT_CHUNK_SIZE, NetCDFGrid, predict_grid, predict_sites

    binns = [BINN.load(path, map_location=device).to(torch.device(device)) for path in models]
    chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
    if data is not None:
        return predict_sites(binns, load_config(data).dataset(), out, chunk_size=chunk_size, overwrite=overwrite)
    if covariates is None or forcing is None:
        raise BinnError("predict needs --covariates and --forcing (a map) or --data (the sites of a run file)")
    grid = NetCDFGrid(covariates, forcing, binns[0].normalizer.feature_names)
    summary = predict_grid(binns, grid, out, chunk_size=chunk_size, overwrite=overwrite)
    print(f"predicted {summary['land_cells']:,} land cells of {summary['cells']:,} in {summary['seconds']:.1f} s "
          f"({summary['cells_per_second']:,.0f} cells/s) -> {out}")
    return Path(out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="binn-lite", description="Train BINNs and predict with them.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train the run of a YAML run file (resumes an interrupted one)")
    run.add_argument("run_file", help="the run file (binn-lite config prints an example)")
    pred = commands.add_parser("predict", help="predict a map or sites with saved BINNs")
    pred.add_argument("models", nargs="+", help="saved BINN file(s) (binn.pt); several: an ensemble")
    pred.add_argument("--out", required=True, help="the NetCDF file to write")
    pred.add_argument("--covariates", help="NetCDF of (lat, lon) covariate variables")
    pred.add_argument("--forcing", help="CLM5 history file on the same grid")
    pred.add_argument("--data", help="a run file: predict the sites of its data section")
    pred.add_argument("--chunk-size", type=int, help="cells per chunk (default 10,000)")
    pred.add_argument("--device", default="cpu")
    pred.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    commands.add_parser("config", help="print an example run file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``binn-lite`` program; returns the exit status (2 with a one-line message for our errors)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            train(args.run_file)
        elif args.command == "predict":
            predict(args.models, args.out, args.covariates, args.forcing, args.data, args.chunk_size, args.device,
                    args.overwrite)
        else:
            from .config import EXAMPLE_CONFIG

            sys.stdout.write(EXAMPLE_CONFIG)
    except (BinnError, FileNotFoundError, FileExistsError) as error:
        print(f"binn-lite {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    return 0
