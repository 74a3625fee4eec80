"""How often a two-process torchrun of the trainer fails after its last write: the run of
tests/test_mnist_train.py's DDP test (2 processes, 1 thread each, 192 images, 2 epochs), RUNS
times, each in a fresh folder. A process that aborts while Python shuts down (SIGABRT,
"terminate called without an active exception": pytorch/pytorch#190489, see
mnist.distributed.leave_distributed) makes torchrun exit non-zero although every file was written.

    python benchmarks/torchrun_exit.py [--runs 60] [--data-dir data]

Prints each run's exit code and seconds, the first line of a failed run's standard error, and
the count. Run it alone when the rate matters: the rate depends on the load.
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
RUN = ["--epochs", "2", "--no-plots", "--threads", "1", "--batch-size", "32", "--limit", "192",
       "--clean-epochs", "0"]  # fmt: skip


def torchrun(data_dir: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node=2", "-m", "mnist.train", "--data-dir", str(data_dir),
               "--out", str(out), *RUN]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60, help="torchrun runs (default 60)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data", help="holds MNIST/raw")
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="torchrun-exit-") as folder:
        for k in range(args.runs):
            start = time.perf_counter()
            done = torchrun(args.data_dir.resolve(), Path(folder, f"run-{k}"))
            seconds = time.perf_counter() - start
            first = next((line for line in done.stderr.splitlines() if line.strip()), "")
            failed += done.returncode != 0
            note = f"  {first[:100]}" if done.returncode else ""
            print(f"run {k + 1}: exit {done.returncode}, {seconds:.1f} s{note}", flush=True)
    print(f"failed: {failed} of {args.runs}")


if __name__ == "__main__":
    main()
