"""Is this machine ready for the tutorials? Run it first, on Colab, Binder or a laptop.

    python -m binn_lite.setup_check

or, in a notebook cell::

    from binn_lite.setup_check import setup_check
    setup_check()

It prints

* the versions of Python, binn_lite and the packages the tutorials import (a missing or broken
  one is named, with the error it raised);
* where it runs (Colab, Binder or elsewhere), the CPU cores it may use (``os.cpu_count`` and the
  cores this process is allowed on), torch's thread count and ``OMP_NUM_THREADS``, and the GPU
  if there is one (the tutorials run on the CPU; a GPU is not needed);
* the wall time of one training step of the tutorials' BINN -- the MLP head of the BINN paper
  (three hidden layers of 128) learning the four most influential CLM5 parameters, on one
  minibatch of 128 sites of the bundled example: forward pass through head and CLM5, log loss,
  backward pass and one AdamW step; the median of a few steps after one warm-up step -- with
  torch's threads and with one thread;
* a plain verdict: ``ready`` when a step takes at most :data:`READY_MS`, ``slow machine``
  (the tutorials' training cells take proportionally longer than the instructor guide's
  timetable says) up to :data:`SLOW_MS`, ``too slow`` above. A step took about 20 ms on the
  2-core machine the guide's times come from.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch

__all__ = ["PACKAGES", "READY_MS", "SLOW_MS", "SetupReport", "time_training_step", "verdict", "setup_check"]

#: (import name, what it is called on PyPI) of what the tutorials import
PACKAGES = (("torch", "torch"), ("numpy", "numpy"), ("pandas", "pandas"), ("matplotlib", "matplotlib"),
            ("kan", "pykan"), ("ipywidgets", "ipywidgets"), ("xarray", "xarray"), ("sympy", "sympy"))
#: one training step at most this long (milliseconds): ready
READY_MS = 80.0
#: up to this long: slow but usable; longer: too slow for a workshop
SLOW_MS = 300.0
#: sites in the timed minibatch (the tutorials' batch size)
BATCH_SITES = 128


@dataclass
class SetupReport:
    """What :func:`setup_check` found (``step_ms`` in milliseconds per training step)."""

    versions: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    environment: str = "local"
    cpu_count: int | None = None
    usable_cores: int | None = None
    torch_threads: int = 1
    omp_num_threads: str | None = None
    gpu: str | None = None
    step_ms: float = float("nan")
    step_ms_one_thread: float = float("nan")
    verdict: str = ""


def _version(module: object, pypi_name: str) -> str:
    version = getattr(module, "__version__", None)
    if version is None:  # pykan's module, kan, has no __version__
        try:
            version = importlib.metadata.version(pypi_name)
        except importlib.metadata.PackageNotFoundError:
            version = "installed (version unknown)"
    return str(version)


def package_versions() -> tuple[dict[str, str], list[str]]:
    """Version of every package in :data:`PACKAGES` (importing it), and the problems found."""
    versions = {"python": platform.python_version()}
    problems = []
    for module_name, pypi_name in (("binn_lite", "binn_lite"), *PACKAGES):
        try:
            versions[pypi_name] = _version(importlib.import_module(module_name), pypi_name)
        except Exception as error:  # noqa: BLE001 - a broken install can raise anything on import
            versions[pypi_name] = "MISSING" if isinstance(error, ModuleNotFoundError) else "BROKEN"
            problems.append(f"import {module_name} failed ({type(error).__name__}: {error}); "
                            f"fix: pip install {pypi_name}")
    return versions, problems


def environment() -> str:
    """``"Google Colab"``, ``"Binder"`` or ``"local"``."""
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "Google Colab"
    if any(name.startswith("BINDER_") for name in os.environ):
        return "Binder"
    return "local"


def gpu_name() -> str | None:
    """The first CUDA device's name, ``"Apple MPS"``, or None."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "Apple MPS"
    return None


def time_training_step(steps: int = 5, threads: int | None = None) -> float:
    """Median wall time (ms) of ``steps`` training steps of the tutorials' BINN, after one warm-up.

    ``threads``: run with ``torch.set_num_threads(threads)`` (restored afterwards); None keeps
    torch's setting.
    """
    from .adamw import AdamW
    from .binn import BINN
    from .clm5 import CLM5, MOST_INFLUENTIAL
    from .data import load_example
    from .heads.sciren import make_head
    from .losses import MaskedLoss
    from .threads import torch_threads

    data = load_example()
    sites = torch.arange(BATCH_SITES)
    binn = BINN(make_head("mlp", len(data.feature_names), len(MOST_INFLUENTIAL)), CLM5(),
                learn=list(MOST_INFLUENTIAL))
    binn.normalizer = data.fit_normalizer()
    x = binn.features(data)[sites].float()
    forcing, coords = data.forcing[sites].to(dtype=torch.float32), data.coords[sites].float()
    targets = data.targets[sites].float()
    binn.float().train()
    loss = MaskedLoss("log", targets)
    optimiser = AdamW([{"params": binn.head.parameters()}], lr=3e-3)  # as fit's
    seconds = []
    with torch_threads(threads):
        for _ in range(steps + 1):
            start = time.perf_counter()
            binn.head.zero_grad()
            loss(binn.predict(x, forcing, coords), targets).backward()
            optimiser.step()
            seconds.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(seconds[1:])


def verdict(step_ms: float, problems: list[str]) -> str:
    """A plain verdict from the time of one training step and the problems found."""
    if problems:
        return "not ready: " + "; ".join(problems)
    if step_ms <= READY_MS:
        return f"ready: one training step {step_ms:.0f} ms"
    if step_ms <= SLOW_MS:
        return (f"slow machine: one training step {step_ms:.0f} ms; training cells will take about "
                f"{step_ms / 20:.0f} times the instructor guide's times (measured at about 20 ms)")
    return (f"too slow: one training step {step_ms:.0f} ms; use Colab or Binder, or close other programs "
            "and set OMP_NUM_THREADS=1 before starting Jupyter")


def setup_check(steps: int = 5, show: bool = True) -> SetupReport:
    """Check versions, cores, threads and GPU, time a training step; print the report if ``show``."""
    report = SetupReport()
    report.versions, report.problems = package_versions()
    report.environment = environment()
    report.cpu_count = os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        report.usable_cores = len(os.sched_getaffinity(0))
    report.torch_threads = torch.get_num_threads()
    report.omp_num_threads = os.environ.get("OMP_NUM_THREADS")
    report.gpu = gpu_name()
    if not report.problems:
        report.step_ms = time_training_step(steps)
        report.step_ms_one_thread = (report.step_ms if report.torch_threads == 1
                                     else time_training_step(steps, threads=1))
    best = min(report.step_ms, report.step_ms_one_thread)
    report.verdict = verdict(best, report.problems)
    if show:
        print(format_report(report))
    return report


def format_report(report: SetupReport) -> str:
    """The printed form of a :class:`SetupReport`."""
    lines = ["binn_lite setup check", f"  running on     {report.environment} ({platform.platform()})"]
    lines += [f"  {name:<14} {version}" for name, version in report.versions.items()]
    cores = f"{report.cpu_count} CPU cores"
    if report.usable_cores is not None and report.usable_cores != report.cpu_count:
        cores += f" ({report.usable_cores} usable by this process)"
    lines.append(f"  CPU            {cores}; torch uses {report.torch_threads} thread(s); "
                 f"OMP_NUM_THREADS={report.omp_num_threads or 'not set'}")
    lines.append(f"  GPU            {report.gpu or 'none (not needed: the tutorials run on the CPU)'}")
    if report.step_ms == report.step_ms:  # not NaN
        timed = f"{report.step_ms:.0f} ms with {report.torch_threads} thread(s)"
        if report.torch_threads != 1:
            timed += f", {report.step_ms_one_thread:.0f} ms with 1"
        lines.append(f"  training step  {timed} (MLP head, CLM5, {BATCH_SITES} sites: forward + backward "
                     "+ AdamW step)")
        if report.step_ms_one_thread < 0.8 * report.step_ms:
            lines.append("  advice         one thread is faster here: run torch.set_num_threads(1) in the "
                         "first cell, or start Jupyter with OMP_NUM_THREADS=1")
    lines.append(f"verdict: {report.verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that this machine is ready for the binn_lite tutorials.")
    parser.add_argument("--steps", type=int, default=5, help="training steps to time (default 5)")
    args = parser.parse_args(argv)
    report = setup_check(steps=max(1, args.steps))
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
