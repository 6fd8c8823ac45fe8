"""Run a manage.py command in-process through the same entry point (for the many bad-argument cases)."""

from __future__ import annotations

import pytest

from cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `manage.py *args`."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse errors exit through the parser
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
