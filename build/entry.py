"""PyInstaller entry point: the package's CLI, imported as a package (relative imports work)."""

import sys

from evedge.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
