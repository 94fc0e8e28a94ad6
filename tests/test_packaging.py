"""Checks of the packaging and set-up files (fast; no installs, no network).

What must hold:

* ``pip install binn_lite`` on Google Colab replaces none of Colab's torch,
  numpy, pandas, matplotlib or ipywidgets, so those get lower bounds only;
* the Makefile never asks pip for a bare or open-ended torch (that pulls the
  newest CUDA build, several GB);
* CI (``.ci/run``) runs exactly ``make test``, like a developer;
* Binder (``.binder/``) installs CPU-only torch and the package itself;
* conda, Binder and pip list the same runtime dependencies.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

import binn_lite

ROOT = Path(__file__).resolve().parents[1]

# Packages Colab ships and pip must leave alone.
COLAB_OWNED = ("torch", "numpy", "pandas", "matplotlib", "xarray", "ipywidgets")

# Versions seen on Colab (and the oldest ones we promise to support); every
# one must satisfy our requirement so that pip keeps what is installed.
VERSIONS_THAT_MUST_BE_ACCEPTED = {
    "torch": ["2.1.0", "2.6.0+cu124", "2.13.0+cpu"],
    "numpy": ["1.26.4", "2.0.2", "2.4.6"],
    "pandas": ["2.2.2", "3.1.1"],
    "matplotlib": ["3.8.0", "3.10.0"],
    "xarray": ["2023.1.0", "2025.1.2", "2026.9.0"],
    "ipywidgets": ["7.6.0", "7.7.1", "8.1.9"],
}

# pykan imports these without declaring them.
PYKAN_UNDECLARED = ("scikit-learn", "pyyaml", "sympy")

# Conda-forge names that differ from the PyPI ones.
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch"}


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def _runtime_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in _pyproject()["project"]["dependencies"]]
    return {canonicalize_name(req.name): req for req in reqs}


def _extra(name: str) -> dict[str, Requirement]:
    lines = _pyproject()["project"]["optional-dependencies"][name]
    return {canonicalize_name(Requirement(line).name): Requirement(line) for line in lines}


def _is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def _bash_syntax_ok(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)


# --------------------------------------------------------------------- pyproject


def test_version_is_the_same_in_pyproject_and_package() -> None:
    assert _pyproject()["project"]["version"] == binn_lite.__version__ == "0.1.0"


def test_requires_python_admits_3_10_to_3_13() -> None:
    spec = Requirement("x" + _pyproject()["project"]["requires-python"]).specifier
    assert [v for v in ("3.9", "3.10", "3.11", "3.12", "3.13") if spec.contains(v)] == [
        "3.10",
        "3.11",
        "3.12",
        "3.13",
    ]


def test_runtime_dependencies_are_the_expected_set() -> None:
    names = set(_runtime_requirements())
    expected = {"torch", "numpy", "pandas", "matplotlib", "ipywidgets", "tqdm", "pykan"}
    expected |= {"xarray", "h5netcdf", "h5py"}  # NetCDF in and out, one engine
    expected |= set(PYKAN_UNDECLARED)
    assert names == expected


@pytest.mark.parametrize("name", COLAB_OWNED)
def test_colab_owned_packages_have_lower_bounds_only(name: str) -> None:
    req = _runtime_requirements()[name]
    operators = sorted(spec.operator for spec in req.specifier)
    assert operators == [">="], f"{name}: {req} must be a single lower bound"


@pytest.mark.parametrize("name", sorted(VERSIONS_THAT_MUST_BE_ACCEPTED))
def test_colab_versions_are_kept(name: str) -> None:
    spec = _runtime_requirements()[name].specifier
    rejected = [v for v in VERSIONS_THAT_MUST_BE_ACCEPTED[name] if not spec.contains(v)]
    assert rejected == [], f"{name}{spec} would make pip replace {rejected}"


def test_ipywidgets_accepts_7_6_and_does_not_force_8() -> None:
    spec = _runtime_requirements()["ipywidgets"].specifier
    assert str(spec) == ">=7.6"
    assert not spec.contains("7.5.1")


def test_no_runtime_dependency_is_pinned_or_capped() -> None:
    capped = {
        name: str(req.specifier)
        for name, req in _runtime_requirements().items()
        if any(s.operator in {"==", "===", "~=", "<", "<="} for s in req.specifier)
    }
    assert capped == {}


def test_test_extra_has_the_notebook_tools() -> None:
    assert set(_extra("test")) == {"pytest", "pytest-xdist", "hypothesis", "nbval", "jupyterlab", "ipykernel"}


def test_browser_extra_pins_playwright_exactly() -> None:
    req = _extra("browser")["playwright"]
    (spec,) = list(req.specifier)
    assert spec.operator == "=="
    assert Version(spec.version) >= Version("1.64")


def test_pytest_settings() -> None:
    ini = _pyproject()["tool"]["pytest"]["ini_options"]
    assert ini["testpaths"] == ["tests", "tutorials"]
    assert any(marker.startswith("browser:") for marker in ini["markers"])
    assert "no:cacheprovider" not in ini.get("addopts", "")


def test_every_subpackage_and_the_example_data_are_packaged() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "binn_lite").rglob("__init__.py")}
    assert set(setuptools["packages"]) == on_disk | {"binn_lite.example_data"}
    assert setuptools["package-dir"] == {"binn_lite.example_data": "data"}
    assert set(setuptools["package-data"]["binn_lite.example_data"]) == {"*.csv", "*.npz", "*.json"}


# ---------------------------------------------------------------------- Makefile


def _makefile() -> str:
    return (ROOT / "Makefile").read_text()


def test_makefile_has_the_user_targets() -> None:
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", _makefile(), flags=re.MULTILINE))
    assert {"quickstart", "test", "install", "bench", "clean"} <= targets


def test_makefile_default_torch_is_an_exact_version() -> None:
    match = re.search(r"^TORCH_SPEC \?= (\S+)\s*$", _makefile(), flags=re.MULTILINE)
    assert match is not None, "TORCH_SPEC ?= ... not found in Makefile"
    assert match.group(1) == "torch==2.13.0"


def test_makefile_pip_installs_torch_only_through_torch_spec() -> None:
    install_lines = [line for line in _makefile().splitlines() if "pip install" in line]
    assert install_lines, "no pip install in Makefile"
    for line in install_lines:
        assert "torch" not in line.replace("$(TORCH_SPEC)", ""), line


def _make_dry_run(target: str, venv: Path) -> str:
    """Recipe that ``make`` would run for ``target`` (-n: nothing is run; -B: all targets)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # Forget overrides given to an outer `make test` so the defaults are checked.
    env = {k: v for k, v in os.environ.items() if k not in {"TORCH_SPEC", "MAKEFLAGS", "MFLAGS"}}
    result = subprocess.run(
        ["make", "-n", "-B", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return result.stdout.replace("\\\n", " ")


def test_make_install_expands_to_exact_torch_and_the_extras(tmp_path: Path) -> None:
    recipe = _make_dry_run("install", tmp_path / "venv")
    assert re.findall(r"pip install ([^\s;]*torch[^\s;]*)", recipe) == ["torch==2.13.0"]
    assert 'pip install -e ".[test,browser]"' in recipe


def test_make_test_runs_notebooks_with_nbval_on_two_workers(tmp_path: Path) -> None:
    recipe = _make_dry_run("test", tmp_path / "venv")
    (pytest_line,) = [line for line in recipe.splitlines() if "-m pytest" in line]
    for flag in ("-n 2", "--dist loadfile", "--nbval-lax", "--nbval-current-env"):
        assert flag in pytest_line


# ------------------------------------------------------------------- CI, Binder


def test_ci_run_is_executable_bash_that_runs_make_test() -> None:
    script = ROOT / ".ci" / "run"
    text = script.read_text()
    assert _is_executable(script)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert "make test" in [line.strip() for line in text.splitlines()]
    assert _bash_syntax_ok(script).returncode == 0


def test_binder_post_build_is_executable_and_installs_the_package() -> None:
    script = ROOT / ".binder" / "postBuild"
    text = script.read_text()
    assert _is_executable(script)
    assert _bash_syntax_ok(script).returncode == 0
    assert re.search(r"pip install .*--no-deps.* (-e )?\.\s*$", text, flags=re.MULTILINE)


def _binder_requirements() -> dict[str, Requirement]:
    lines = (ROOT / ".binder" / "requirements.txt").read_text().splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and line[0] not in "#-"]
    return {canonicalize_name(req.name): req for req in reqs}


def test_binder_installs_cpu_only_torch() -> None:
    text = (ROOT / ".binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    (spec,) = list(_binder_requirements()["torch"].specifier)
    assert spec.operator == "==" and spec.version.endswith("+cpu")


def test_binder_and_pyproject_list_the_same_dependencies() -> None:
    assert set(_binder_requirements()) == set(_runtime_requirements())


def test_conda_environment_has_every_dependency_and_cpu_torch() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"][0] == "conda-forge"
    conda, pip = [], []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            pip.extend(item["pip"])
        else:
            conda.append(item)
    names = {re.split(r"[=<>! ]", item)[0] for item in conda + pip}
    names = {canonicalize_name(CONDA_TO_PYPI.get(name, name)) for name in names}
    assert set(_runtime_requirements()) | {"nbval", "pytest", "pytest-xdist"} <= names
    assert "pytorch-cpu>=2.1" in conda
    assert "-e ." in pip


def test_gitignore_keeps_environments_and_outputs_out() -> None:
    lines = set((ROOT / ".gitignore").read_text().splitlines())
    assert {".venv/", "outputs/", "*.egg-info/", "__pycache__/", ".ipynb_checkpoints/"} <= lines


def test_readme_module_table_names_every_module_and_no_other():
    """The README's "one concept per module" table is the map of the package: it must match the files."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### The package, one concept per module"):]
    table = table[:table.index("\n### ", 10)]
    named = set(re.findall(r"`([\w/]+(?:\.py|/))`", table))
    package = ROOT / "binn_lite"
    on_disk = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    on_disk |= {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
    inside = {n for n in named if n.endswith(".py") and not (package / n).exists()}
    subpackage_files = {p.name for sub in package.iterdir() if (sub / "__init__.py").exists() for p in sub.glob("*.py")}
    assert on_disk - named == set(), "modules missing from the README table"
    assert inside - subpackage_files == set(), "the README table names modules that do not exist"
