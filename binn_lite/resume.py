"""Checkpoint and resume: a long fit survives a Colab disconnect or a cluster's time limit.

``fit(binn, data, checkpoint="run/train_state.pt")`` writes the whole state of the training run
to that file after every ``checkpoint_every`` epochs (:class:`~binn_lite.train.FitSettings`) and
at the end. Run the same call again -- a fresh BINN built the same way, the same data and
settings -- and it continues after the last epoch written, to the *same* result as a run that
was never interrupted (``tests/test_resume.py``): the state holds everything the next epoch
depends on,

* the BINN's weights and normalizer, the optimiser's state (AdamW moments, L-BFGS history),
* the random streams: the minibatch order generator, torch's and NumPy's global generators,
* early stopping (best epoch, its weights, epochs waited), the divergence watch and the history.

A run that had finished returns its result at once. ``epochs`` and ``max_seconds`` may change
between the runs (to train longer); any other setting, or different sites, train/validation split
or normalizer, is refused with a :class:`~binn_lite.errors.BinnInputError` naming what differs,
because the continued run could not equal an uninterrupted one. Under ``torchrun`` only process 0
writes the file and every process reads it (put it on a file system they share).

The file is written atomically (a temporary file, then a rename), so an interruption while
writing leaves the previous state intact, and read with ``torch.load(weights_only=True)``: plain
data only, no code in the file runs.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .checkpoint import save_atomically
from .errors import BinnInputError, CheckpointError

if TYPE_CHECKING:  # train imports this module
    from .train import _EarlyStopping, _Trainer
    from .divergence import DivergenceWatch

__all__ = ["FORMAT", "VERSION", "save_state", "restore_state", "RESUMABLE_CHANGES"]

FORMAT = "binn_lite.TrainingState"
VERSION = 1
#: settings that may differ between an interrupted run and its continuation
RESUMABLE_CHANGES = ("epochs", "max_seconds", "progress", "num_threads", "device", "checkpoint", "checkpoint_every")


def _settings_record(settings: Any) -> dict[str, str]:
    return {f.name: str(getattr(settings, f.name)) for f in dataclasses.fields(settings)
            if f.name not in RESUMABLE_CHANGES}


def _numpy_rng() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _cpu(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def save_state(path: str | os.PathLike, trainer: "_Trainer", epoch: int, rows: list[dict[str, float]],
               best: "_EarlyStopping", watch: "DivergenceWatch", elapsed: float, finished: bool,
               stopped_early: bool) -> Path:
    """Write the state of ``trainer`` after ``epoch`` to ``path`` (atomically)."""
    binn = trainer.binn
    state = {
        "format": FORMAT, "version": VERSION, "settings": _settings_record(trainer.settings),
        "train_idx": torch.from_numpy(trainer.train_idx), "val_idx": torch.from_numpy(trainer.val_idx),
        "normalizer": binn.normalizer.to_dict(), "binn": _cpu(binn.state_dict()), "build": _build_record(binn),
        "optimiser": trainer.optimiser.state_dict(), "generator": trainer.generator.get_state(),
        "torch_rng": torch.get_rng_state(), "numpy_rng": _numpy_rng(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "epoch": int(epoch), "history": [dict(row) for row in rows], "elapsed": float(elapsed),
        "finished": bool(finished), "stopped_early": bool(stopped_early), "out_of_patience": bool(best.out_of_patience),
        "best": {"score": best.score, "val_nse": best.val_nse, "val_loss": best.val_loss, "epoch": best.epoch,
                 "waited": best.waited, "state": _cpu(best.state)},
        "watch": {"first_loss": watch.first_loss, "far_off": watch.far_off,
                  "saturated_nse": list(watch.saturated_nse)},
    }
    return save_atomically(state, path)


def _read(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable training state (damaged or another kind of file): "
                              f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("version") != VERSION:
        raise CheckpointError(f"{path} is not a binn_lite training state of version {VERSION} "
                              "(a saved BINN is loaded with BINN.load, not resumed)")
    return state


def _build_record(binn: Any) -> dict[str, Any]:
    """What the weights alone do not say about a BINN: who is learned, global, fixed at which value."""
    return {"learned": list(binn.learned), "global": list(binn.global_names),
            "fixed_values": [float(v) for v in binn.fixed_values],
            "process_model": f"{type(binn.process_model).__name__}{binn.process_model.config()}"}


def _check_same_run(path: Path, state: dict[str, Any], trainer: "_Trainer") -> None:
    """Raise unless the BINN's make-up, the settings, the split and the normalizer are the saved run's."""
    saved, now = state["settings"], _settings_record(trainer.settings)
    changed = [f"{k}: {saved.get(k)} -> {v}" for k, v in now.items() if saved.get(k) != v]
    built, build = state.get("build", {}), _build_record(trainer.binn)
    changed += [f"the BINN's {k.replace('_', ' ')}: {built.get(k)} -> {v}" for k, v in build.items()
                if built.get(k) != v]
    if not np.array_equal(state["train_idx"].numpy(), trainer.train_idx) or \
            not np.array_equal(state["val_idx"].numpy(), trainer.val_idx):
        changed.append("the training or validation sites")
    if state["normalizer"] != trainer.binn.normalizer.to_dict():
        changed.append("the covariates (the normalizer fitted on them)")
    if changed:
        raise BinnInputError(f"{path} holds the state of a different run; it differs in {'; '.join(changed)}. "
                             "Resume with the same data and settings (only "
                             f"{', '.join(RESUMABLE_CHANGES)} may change), or use another checkpoint path")


def restore_state(path: str | os.PathLike, trainer: "_Trainer", best: "_EarlyStopping",
                  watch: "DivergenceWatch") -> tuple[int, list[dict[str, float]], float, bool, bool]:
    """Load the state at ``path`` into ``trainer``, ``best`` and ``watch``.

    Returns (last epoch done, history rows, seconds trained so far, finished, stopped early).
    """
    path = Path(path)
    state = _read(path)
    _check_same_run(path, state, trainer)
    device = trainer.settings.device
    trainer.binn.load_state_dict(state["binn"])
    trainer.optimiser.load_state_dict(state["optimiser"])
    trainer.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    rng = state["numpy_rng"]
    np.random.set_state((rng["kind"], rng["keys"].numpy().astype(np.uint32), rng["pos"], rng["has_gauss"],
                         rng["cached"]))
    saved = state["best"]
    best.score, best.val_nse, best.val_loss = saved["score"], saved["val_nse"], saved["val_loss"]
    best.epoch, best.waited = saved["epoch"], saved["waited"]
    best.state = {k: v.to(device) for k, v in saved["state"].items()}
    watch.first_loss, watch.far_off = state["watch"]["first_loss"], state["watch"]["far_off"]
    watch.saturated_nse = list(state["watch"]["saturated_nse"])
    # a run that only ran out of epochs goes on when asked for more; one that ran out of patience, or
    # whose Levenberg-Marquardt steps converged, is done
    converged = bool(state["optimiser"].get("converged", False))
    finished = state["out_of_patience"] or converged or (state["finished"] and state["epoch"] >= trainer.settings.epochs)
    return state["epoch"], state["history"], state["elapsed"], finished, state["stopped_early"]
