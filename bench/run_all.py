"""`make bench`: the HTTP benchmark (the figures of docs/benchmarks.md), then the in-process one.

Each runs in its own interpreter, so their Django settings never meet. Benchmarks print
figures and never fail: the exit code is 0 whatever they measured.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    for script, args in (
        ("http_hot_path.py", sys.argv[1:]),
        ("hot_path.py", []),
        ("webhooks_delivery.py", []),
        ("sandbox_transactions.py", []),
        ("marketplace_search.py", []),
    ):
        print(f"\n### bench/{script}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / script), *args], check=False, timeout=1800)
        if done.returncode != 0:
            print(f"bench/{script} exited with {done.returncode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
