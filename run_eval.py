#!/usr/bin/env python
"""evalkit's command line; `python run_eval.py --help` explains it."""

import sys

from evalkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
