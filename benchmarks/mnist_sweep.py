"""One GPU session of recipe search for the default model, as it was run (H200, 15 minutes).

0. benchmarks/mnist_time_to_accuracy.py alone: with CUDA graphs and without;
1. every variant below, 16 seeds each, packed (benchmarks/mnist_search.py), all at once;
2. the variant and weights (trained, or a moving average) whose 16 seeds score best (mean minus
   standard deviation of the last epoch; 15 epochs unless only a longer one holds 99.40%):
   ten seeds of it with `python -m mnist.train`, at once;
In --out: search.jsonl, choice.json, gpu-runs.tar.gz, timing.txt; each process's log in
runs/sweep-logs.

    python benchmarks/mnist_sweep.py --out DIR [--budget 520]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mnist.names import METRICS  # noqa: E402 (mnist.names needs no torch)

SEARCH = [sys.executable, str(ROOT / "benchmarks" / "mnist_search.py")]
VARIANTS = {  # name: (architecture, settings over defaults.toml)
    "base": ("nano", {}),
    "wd2e-4": ("nano", {"weight_decay": 2e-4}),
    "wd5e-4": ("nano", {"weight_decay": 5e-4}),
    "wd1e-3": ("nano", {"weight_decay": 1e-3}),
    "wd5e-4-lr0.4": ("nano", {"weight_decay": 5e-4, "lr": 0.4}),
    "wd5e-4-pct0.15": ("nano", {"weight_decay": 5e-4, "pct_start": 0.15}),
    "wd5e-4-bs64": ("nano", {"weight_decay": 5e-4, "batch_size": 64}),
    "wd5e-4-e20": ("nano", {"weight_decay": 5e-4, "epochs": 20}),
    "s5a-wd5e-4": ("nano-s5a", {"weight_decay": 5e-4}),
    "s5c-wd5e-4": ("nano-s5c", {"weight_decay": 5e-4}),
}
SEARCH_SEEDS = "1-16"
REAL_SEEDS = range(1, 11)
TARGET = 0.994


def run_all(commands: dict[str, list[str]], logs: Path, timeout: float) -> None:
    """Start every command at once; wait until all end or `timeout` seconds pass."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    procs = {}
    for name, cmd in commands.items():
        log = (logs / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            proc.kill()
            print(f"{name}: killed at the time limit", flush=True)


def scores(search_file: Path, extra: dict) -> list[dict]:
    """Each variant's last epoch, for its trained weights and each moving average; unfinished
    variants (cut by the time limit) rank after the finished ones."""
    last = {}
    for line in search_file.read_text().splitlines():
        record = json.loads(line)
        last[record["variant"]] = record
    rows = []
    for name, record in last.items():
        settings = VARIANTS[name][1]
        done = record["epoch"] == (settings | extra).get("epochs", 15)
        for key in (k for k in record if k == "raw" or k.startswith("ema")):
            accs = record[key]
            mean, sd = statistics.mean(accs), statistics.stdev(accs)
            rows.append({"variant": name, "weights": key, "epochs": record["epoch"], "done": done,
                         "mean": mean, "min": min(accs), "sd": sd, "score": mean - sd,
                         "n": len(accs)})  # fmt: skip
    return sorted(rows, key=lambda r: (not r["done"], -r["score"]))


def choose(rows: list[dict]) -> dict:
    short = [r for r in rows if r["epochs"] <= 15]
    if short and short[0]["mean"] >= 0.995 and short[0]["min"] >= TARGET:
        return short[0]
    return rows[0]


def flags(choice: dict, extra: dict) -> list[str]:
    arch, settings = VARIANTS[choice["variant"]]
    out = [f"--{k.replace('_', '-')}={v}" for k, v in (settings | extra).items()]
    if choice["weights"] != "raw":
        out.append(f"--ema={choice['weights'].removeprefix('ema')}")
    return ["--arch", arch, "--train", *out]


def timing(out: Path, limit: float) -> bool:
    """benchmarks/mnist_time_to_accuracy.py alone on the GPU: fast and default with CUDA graphs,
    default without; whether the graphed runs worked."""
    bench = [sys.executable, str(ROOT / "benchmarks" / "mnist_time_to_accuracy.py"), "--seeds", "1"]
    runs = {"graphs": ["--recipes", "fast", "default"],
            "eager": ["--recipes", "default", "--flags=--no-cuda-graphs"]}  # fmt: skip
    ok, deadline = False, time.monotonic() + limit
    with (out / "timing.txt").open("w") as f:
        for name, flags in runs.items():
            f.write(f"== {name}\n")
            f.flush()
            try:
                left = max(deadline - time.monotonic(), 1)
                done = subprocess.run([*bench, *flags], cwd=ROOT, stdout=f,
                                      stderr=subprocess.STDOUT, timeout=left)  # fmt: skip
                ok = ok or (name == "graphs" and done.returncode == 0)
            except subprocess.TimeoutExpired:
                f.write(f"{name}: cut at the time limit\n")
    print((out / "timing.txt").read_text(), flush=True)
    return ok


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget", type=float, default=520, help="seconds for the whole session")
    p.add_argument("--seeds", default=SEARCH_SEEDS, help="search seeds (default: %(default)s)")
    p.add_argument("--extra", nargs="*", default=[], help="key=value over every variant (tests)")
    p.add_argument("--no-timing", action="store_true", help="skip the timing (tests)")
    args = p.parse_args()
    extra = tomllib.loads("\n".join(args.extra))
    start = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    graphs_work = False if args.no_timing else timing(args.out, 0.2 * args.budget)
    logs = ROOT / "runs" / "sweep-logs"
    logs.mkdir(parents=True, exist_ok=True)
    search_file = args.out / "search.jsonl"
    search_file.touch()
    commands = {
        name: [*SEARCH, "--variant", name, "--arch", arch, "--seeds", args.seeds,
               "--out", str(search_file), "--set", *(f"{k}={v!r}" for k, v in (s | extra).items())]
        for name, (arch, s) in VARIANTS.items()
    }  # fmt: skip
    run_all(commands, logs, timeout=0.65 * args.budget - (time.monotonic() - start))
    print(f"search done at {time.monotonic() - start:.0f} s", flush=True)
    rows = scores(search_file, extra)
    for r in rows:
        print(f"{r['variant']:>16} {r['weights']:>9} epochs {r['epochs']} mean "
              f"{100 * r['mean']:.3f} min {100 * r['min']:.2f} sd {100 * r['sd']:.3f}",
              flush=True)  # fmt: skip
    choice = choose(rows)
    choice["flags"] = flags(choice, extra) + ([] if graphs_work else ["--no-cuda-graphs"])
    (args.out / "choice.json").write_text(json.dumps({"choice": choice, "rows": rows}, indent=1))
    print("chosen:", choice, flush=True)
    runs = ROOT / "runs" / "gpu"
    real = {
        f"seed-{seed}": [*SEARCH, *choice["flags"], "--seed", str(seed), "--out",
                         str(runs / f"seed-{seed}")]
        for seed in REAL_SEEDS
    }  # fmt: skip
    run_all(real, logs, timeout=args.budget - (time.monotonic() - start))
    print(f"real runs done at {time.monotonic() - start:.0f} s", flush=True)
    with tarfile.open(args.out / "gpu-runs.tar.gz", "w:gz") as tar:
        for path in sorted(runs.glob("seed-*/*")):
            if path.suffix in (".jsonl", ".json"):
                tar.add(path, arcname=str(path.relative_to(runs)))
    for seed in REAL_SEEDS:
        metrics = runs / f"seed-{seed}" / METRICS
        if metrics.exists():
            last = json.loads(metrics.read_text().splitlines()[-1])
            print(f"gpu seed {seed}: epoch {last['epoch']} test {100 * last['test_acc']:.2f}%")


if __name__ == "__main__":
    main()
