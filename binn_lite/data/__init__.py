"""Data for a BINN: synthetic CLM5 profiles with known truth, the bundled example, and your own profiles.

One concept per module:

* :mod:`~binn_lite.data.schema` -- column names, units and stored decimals (:data:`COVARIATES`,
  :data:`SCIREN_COVARIATES`);
* :mod:`~binn_lite.data.landscape` -- synthetic sites over the conterminous US and their covariates;
* :mod:`~binn_lite.data.truth` -- :class:`Truth`: the parameters behind synthetic data and how they
  depend on covariates (:data:`TRUTH_FUNCTIONS`, :data:`SCENARIOS`);
* :mod:`~binn_lite.data.simulate` -- :func:`simulate_observations` from any process model, with noise;
* :mod:`~binn_lite.data.synthetic` -- :func:`make_synthetic`: forcing, horizons, truth and SOC for CLM5;
* :mod:`~binn_lite.data.files` -- :func:`save_dataset` and :func:`read_dataset` (open CSV/NPZ/JSON files);
* :mod:`~binn_lite.data.validation` -- the checks behind :func:`read_dataset`, with clear messages;
* :mod:`~binn_lite.data.example` -- the bundled example: :func:`load_example`, :func:`regenerate_example`
  (``python -m binn_lite.data --regenerate``).
"""
from .example import EXAMPLE_SETTINGS, example_dir, load_example, regenerate_example
from .files import read_dataset, save_dataset
from .netcdf import CLM5_VARIABLES, CLM5History, PredictionWriter, write_clm5_forcing
from .schema import COVARIATES, LAND_COVER_CLASSES, SCIREN_COVARIATES
from .simulate import simulate_observations
from .synthetic import make_synthetic
from .truth import SCENARIOS, TRUTH_FUNCTIONS, Truth
from .wosis import WOSIS_COLUMNS, read_profiles

__all__ = [
    "load_example", "example_dir", "regenerate_example", "EXAMPLE_SETTINGS",
    "make_synthetic", "SCENARIOS", "simulate_observations", "Truth", "TRUTH_FUNCTIONS",
    "read_dataset", "save_dataset", "COVARIATES", "SCIREN_COVARIATES", "LAND_COVER_CLASSES",
    "CLM5History", "CLM5_VARIABLES", "write_clm5_forcing", "PredictionWriter", "read_profiles", "WOSIS_COLUMNS",
]
