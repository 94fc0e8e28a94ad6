"""Where the repository lives: the one place a maintainer edits after moving or forking it.

Notebooks cannot import this before binn_lite is installed (their badges and Colab install cell
must work first), so the address is *copied* into README.md and every tutorial. After changing
``OWNER``, ``NAME`` or ``BRANCH``, run::

    python -m binn_lite._repo --sync

which rewrites the badges and install cells; ``tests/test_tutorials.py`` fails while any copy
disagrees with this file.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

OWNER = "binn-lite"
NAME = "binn_lite"
BRANCH = "main"

REPOSITORY = f"https://github.com/{OWNER}/{NAME}"
ROOT = Path(__file__).resolve().parent.parent
_ANY_REPO = r"[\w.-]+/[\w.-]+"


def colab_url(notebook: str) -> str:
    """'Open in Colab' address of ``tutorials/<notebook>``."""
    return f"https://colab.research.google.com/github/{OWNER}/{NAME}/blob/{BRANCH}/tutorials/{notebook}"


def binder_url(notebook: str) -> str:
    """Binder address opening ``tutorials/<notebook>`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{OWNER}/{NAME}/{BRANCH}?urlpath=lab/tree/tutorials/{notebook}"


def pip_requirement() -> str:
    """What the Colab install cell gives to pip."""
    return f"binn_lite @ git+{REPOSITORY}@{BRANCH}"


def badges(notebook: str) -> str:
    """The badge line that opens every tutorial."""
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)}) "
            f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook)})")


def install_cell() -> str:
    """The Colab-only install cell (second cell of every tutorial); never touches torch."""
    return (
        "# Colab only: add binn_lite and pykan. Colab's torch, numpy, pandas, matplotlib and ipywidgets stay as they are.\n"
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    %pip install -q \"{pip_requirement()}\"\n"
    )


def _rewrite(text: str) -> str:
    text = re.sub(rf"colab\.research\.google\.com/github/{_ANY_REPO}/blob/[\w.-]+/",
                  f"colab.research.google.com/github/{OWNER}/{NAME}/blob/{BRANCH}/", text)
    text = re.sub(rf"mybinder\.org/v2/gh/{_ANY_REPO}/[\w.-]+\?", f"mybinder.org/v2/gh/{OWNER}/{NAME}/{BRANCH}?", text)
    text = re.sub(r"binn_lite @ git\+https://github\.com/[\w./-]+?@[\w.-]+", pip_requirement(), text)
    return re.sub(r"https://github\.com/[\w.-]+/binn_lite \(branch [\w.-]+\)", f"{REPOSITORY} (branch {BRANCH})", text)


def sync(root: Path = ROOT) -> list[Path]:
    """Rewrite README.md and tutorials/*.ipynb to this file's address; return the changed files."""
    changed = []
    for path in [root / "README.md", *sorted((root / "tutorials").glob("*.ipynb"))]:
        if not path.exists():
            continue
        if path.suffix == ".ipynb":
            notebook = json.loads(path.read_text())
            for cell in notebook["cells"]:
                source = "".join(cell["source"])
                new = _rewrite(source)
                if new != source:
                    cell["source"] = new.splitlines(keepends=True)
            new_text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        else:
            new_text = _rewrite(path.read_text())
        if new_text != path.read_text():
            path.write_text(new_text)
            changed.append(path)
    return changed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Copy the repository address into README and tutorials.")
    parser.add_argument("--sync", action="store_true", help="rewrite README.md and tutorials/*.ipynb")
    args = parser.parse_args()
    if args.sync:
        changed = sync()
        print("\n".join(f"updated {p.relative_to(ROOT)}" for p in changed) or "everything already points to " + REPOSITORY)
    else:
        print(REPOSITORY, BRANCH)
