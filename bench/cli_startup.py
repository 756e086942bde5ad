"""Start-up of `verifybot check` against the bare interpreter's start-up (python -c pass)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "examples" / "jane_doe.yml"
RUNS = 15


def _median_seconds(command: list[str]) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        db = str(Path(scratch) / "bench.db")
        check = [sys.executable, "-m", "handlers.cli", "check", str(CASE), "--json", "--db", db]
        bare = _median_seconds([sys.executable, "-c", "pass"])
        checked = _median_seconds(check)
        help_only = _median_seconds([sys.executable, "-m", "handlers.cli", "--help"])
    print(f"cli start-up, median of {RUNS} runs")
    print(f"  python -c pass            {bare * 1000:8.1f} ms")
    print(f"  verifybot --help          {help_only * 1000:8.1f} ms")
    print(
        f"  verifybot check --json    {checked * 1000:8.1f} ms  ({checked / bare:.1f}x bare python)"
    )


if __name__ == "__main__":
    main()
