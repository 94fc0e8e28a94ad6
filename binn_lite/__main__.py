"""``python -m binn_lite ...``: the ``binn-lite`` command line (:mod:`binn_lite.cli`), also what
``torchrun -m binn_lite train run.yaml`` starts."""
import sys

from .cli import main

sys.exit(main())
