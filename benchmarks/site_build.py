"""Time `mkdocs build --strict` of the documentation site (target: under 20 s on the dev machine).

python benchmarks/site_build.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 20.0


def build_seconds(site_dir: Path) -> float:
    """Wall time of one strict build, from starting Python to the last file written."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)]
    start = time.perf_counter()
    subprocess.run(
        command,
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="builds to time (default: 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        times = [build_seconds(Path(folder, f"site{k}")) for k in range(args.runs)]
    best = min(times)
    print("builds (s):", ", ".join(f"{t:.2f}" for t in times))
    verdict = "met" if best < TARGET_SECONDS else "MISSED"
    print(f"best {best:.2f} s; target {TARGET_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
