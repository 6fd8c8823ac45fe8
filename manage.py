#!/usr/bin/env python
"""The operations CLI the runbooks call: `python manage.py <command> ...`.

Each command is a module in cli/ with `register(subparsers)`; its handler returns the exit code.
"""

from __future__ import annotations

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
