"""``python -m binn_lite.data --regenerate [--out DIR]``: rewrite the bundled example files."""
from .example import main

if __name__ == "__main__":
    main()
