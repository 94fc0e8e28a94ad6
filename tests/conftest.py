"""Shared test set-up.

One torch thread in every test process: the tests run many small model calls, where a second
thread only adds overhead, and under ``pytest -n 2`` two workers share two cores (two threads each
oversubscribe them and torch's OpenMP threads spin-wait: measured 5-15x slower steps). ``make test``
also sets OMP_NUM_THREADS=1 for the notebook kernels it starts.
"""
import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # headless: no test opens a window

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def float64_by_default():
    """Build tensors in float64 in this module; restore the default for the next test file.

    Use it with ``pytestmark = pytest.mark.usefixtures("float64_by_default")``.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
