"""Run every benchmark: `python -m bench`."""

from __future__ import annotations

import importlib

BENCHMARKS = ("bench.cli_startup", "bench.slack_ack")


def main() -> None:
    for name in BENCHMARKS:
        print(f"== {name}")
        importlib.import_module(name).main()
        print()


if __name__ == "__main__":
    main()
