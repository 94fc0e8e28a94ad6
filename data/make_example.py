"""Regenerate the bundled example data set, byte for byte.

    python data/make_example.py              # writes data/ (the bundled example)
    python data/make_example.py --out DIR    # writes DIR/ instead

Same as ``python -m binn_lite.data --regenerate``; the settings are ``binn_lite.data.EXAMPLE_SETTINGS``.
"""
import sys

from binn_lite.data.example import main

if __name__ == "__main__":
    main(["--regenerate", *sys.argv[1:]])
