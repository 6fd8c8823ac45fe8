#!/usr/bin/env python
"""The operations CLI the runbooks call: `python manage.py <command> ...`.

Each command is a module in cli/ with `register(subparsers)`; its handler returns the exit code.
"""

from __future__ import annotations

import os
import sys

from cli import main

if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # `manage.py report daily | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
