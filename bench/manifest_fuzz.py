"""Time and memory of `load_dq_rules --dry-run` on every malformed manifest, each in its own process.

    python bench/manifest_fuzz.py [--only NAME]

The corpus is tests/manifest_corpus.py plus files near the 10 MB mark (a 9.9 MB manifest, a
200,000-rule manifest, and the largest file the limits let through with its maximum of rules).
Each runs as `python manage.py load_dq_rules --dry-run FOLDER` beside a good manifest, with a
2 GB address-space limit so a regression cannot take the machine down. Targets (issue 13):
every file a clear error naming it, no traceback, under 5 s and 500 MB for any file under 10 MB.
The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.manifest_corpus import GOOD, HEAD, LOADED, SOURCES, variants  # noqa: E402

LIMIT_BYTES = 2 * 1024**3


def _large() -> list[tuple[str, bytes, bool]]:
    rule = "  - {name: big_r%d, check: not_null, column: c, severity: LOW, description: '%s'}\n"
    filler = "d" * 900
    near_limit = HEAD + "".join(rule % (i, filler) for i in range(1_999)) + "  - {name: big_bad, check: nope, severity: LOW}\n"
    return [
        ("big_9_9mb", (GOOD + "# " + "x" * 1000 + "\n").encode() * 7_500, False),
        ("big_200k_rules", (HEAD + "".join(rule % (i, "") for i in range(200_000))).encode(), False),
        ("big_2k_rules_1_9mb_one_bad", near_limit.encode(), True),
    ]


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def run_one(name: str, content: bytes, folder: Path) -> dict[str, object]:
    bad = folder / f"{name}.yaml"
    bad.write_bytes(content)
    env = {**os.environ, "DQ_DATA_DIR": str(folder / "data"), "DQ_RULES_DIR": str(folder)}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err_file:
        child = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "load_dq_rules", "--dry-run", str(folder)],
                                 stdout=subprocess.DEVNULL, stderr=err_file, env=env, cwd=ROOT, preexec_fn=_limit)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak memory, not the running maximum
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        err_file.seek(0)
        err = err_file.read()
    rss_mb = usage.ru_maxrss / 1024
    bad.unlink()
    text = err.decode(errors="replace")
    return {"name": name, "bytes": len(content), "exit": child.returncode, "seconds": round(seconds, 3),
            "max_rss_mb": round(rss_mb, 1), "names_file": f"{name}.yaml" in text,
            "traceback": "Traceback" in text, "stderr_chars": len(text)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run one variant by name")
    args = parser.parse_args()
    corpus = variants() + _large()
    if args.only:
        corpus = [v for v in corpus if v[0] == args.only]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "sources.yaml").write_text(SOURCES)
        (folder / "good.yaml").write_text(LOADED)
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate"], check=True, capture_output=True,
                       env={**os.environ, "DQ_DATA_DIR": str(folder / "data")}, cwd=ROOT)
        for name, content, _ in corpus:
            row = run_one(name, content, folder)
            rows.append(row)
            flag = "" if row["exit"] == 2 and row["names_file"] and not row["traceback"] else "   <-- NOT A CLEAR ERROR"
            print(f"{name:32} {row['bytes']:>10,} B  exit {row['exit']}  {row['seconds']:6.2f} s  "
                  f"{row['max_rss_mb']:7.1f} MB{flag}")
    clear = [r for r in rows if r["exit"] == 2 and r["names_file"] and not r["traceback"]]
    small = [r for r in rows if int(str(r["bytes"])) < 10 * 1024**2]
    summary = {
        "variants": len(rows), "clear_errors": len(clear), "clear_error_share": round(len(clear) / len(rows), 4),
        "tracebacks": sum(1 for r in rows if r["traceback"]),
        "max_seconds": max(float(str(r["seconds"])) for r in small),
        "max_rss_mb": max(float(str(r["max_rss_mb"])) for r in small),
        "slowest": max(small, key=lambda r: float(str(r["seconds"])))["name"],
    }
    print(f"{summary['clear_errors']}/{summary['variants']} clear errors, {summary['tracebacks']} tracebacks; "
          f"files under 10 MB: at most {summary['max_seconds']} s (target 5) and {summary['max_rss_mb']} MB (target 500)")
    print(json.dumps(summary))
    return 0 if len(clear) == len(rows) and summary["max_seconds"] < 5 and summary["max_rss_mb"] < 500 else 1


if __name__ == "__main__":
    sys.exit(main())
