"""Shared test set-up.

Under ``pytest -n 2`` two workers share two cores: each uses one torch thread (two threads each
oversubscribe the cores and torch's OpenMP threads spin-wait, measured 5-15x slower steps).
``make test`` also sets OMP_NUM_THREADS=1 for the notebook kernels it starts.
"""
import os

import matplotlib
import torch

matplotlib.use("Agg")  # headless: no test opens a window

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
