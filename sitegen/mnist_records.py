"""The recorded runs beside the reference folders, for the MNIST page: the GPU search
(gpu-search.json) and every other training run made on the project's CPU (cpu-runs.json)."""

from __future__ import annotations

import statistics
from pathlib import Path

from sitegen.mnist_reference import TARGET, read_json
from sitegen.site_common import SiteError, markdown_table

GPU_SEARCH = "gpu-search.json"  # the GPU search and runs of the default model, as recorded
CPU_RUNS = "cpu-runs.json"  # every CPU run of a session beyond the reference folders
SHOWN_WEIGHTS = {"raw": "trained weights", "ema0.999": "EMA 0.999"}


def seed_stats(accuracies: list[float]) -> list[str]:
    """n, mean, minimum, maximum and how many below TARGET, as table cells."""
    below = sum(a < TARGET - 1e-9 for a in accuracies)
    return [str(len(accuracies)), f"{statistics.mean(accuracies):.2f}", f"{min(accuracies):.2f}",
            f"{max(accuracies):.2f}", str(below)]  # fmt: skip


def settings_text(settings: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in settings.items())


def gpu_context(folder: Path) -> dict:
    """The recorded GPU search (every variant, trained weights and EMA 0.999) and trainer runs,
    as one table; {} if the folder holds no record."""
    path = folder / GPU_SEARCH
    if not path.is_file():
        return {}
    record = read_json(path, "GPU search record")
    try:
        rows = []
        for run in record["search"]:
            settings = settings_text(run["settings"]) or "as then"
            for key, name in SHOWN_WEIGHTS.items():
                accuracies = run["last_epoch_test_acc"][key]
                rows.append([f"search: {settings}", name, *seed_stats(accuracies)])
        trainer = record["trainer"]
        finals = list(trainer["last_epoch_test_acc"].values())
        rows.append([f"`mnist.train`: {settings_text(trainer['settings'])}", "as set",
                     *seed_stats(finals)])  # fmt: skip
        device = record["device"]
    except (KeyError, TypeError, AttributeError, statistics.StatisticsError) as exc:
        raise SiteError(f"{path}: not a GPU search record ({exc!r})") from None
    header = ["runs", "weights tested", "seeds", "mean", "minimum", "maximum", f"< {TARGET}%"]
    return {"table": markdown_table(header, rows), "device": device, "file": GPU_SEARCH}


def span(values: list, form: str = "g") -> str:
    """'83.7–88.8' of the values given, each formatted with `form` (one value alone; '' for
    none)."""
    if not values:
        return ""
    low, high = f"{min(values):{form}}", f"{max(values):{form}}"
    return low if low == high else f"{low}–{high}"


def seed_ranges(seeds: list[int]) -> str:
    """The distinct seeds as ranges: [1, 2, 3, 5, 201, 202] -> '1–3, 5, 201–202'."""
    ranges: list[list[int]] = []
    for seed in sorted(set(seeds)):
        if ranges and seed == ranges[-1][1] + 1:
            ranges[-1][1] = seed
        else:
            ranges.append([seed, seed])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in ranges)


def run_label(run: dict) -> str:
    """A CPU run's group, the settings it changed and its note, e.g. 'fast-variant: epochs = 4'."""
    settings = settings_text(run.get("settings") or {})
    label = f"{run['group']}: {settings}" if settings else str(run["group"])
    return f"{label} ({run['note']})" if run.get("note") else label


def cpu_row(label: str, epochs: int, runs: list[dict]) -> list[str]:
    """One table row of the CPU record: the runs of one label and number of epochs run."""
    accuracies = [r["last_epoch_test_acc"] for r in runs]
    seconds = span([r["seconds"] for r in runs if "seconds" in r], ".1f")
    at_once = span([r["side_by_side"] for r in runs if "side_by_side" in r])
    timing = f"{seconds} ({at_once})" if seconds and at_once else seconds
    return [label, str(epochs), seed_ranges([r["seed"] for r in runs]), str(len(runs)),
            f"{statistics.mean(accuracies):.2f}", span(accuracies, ".2f"),
            str(sum(a < TARGET - 1e-9 for a in accuracies)), timing]  # fmt: skip


def cpu_context(folder: Path) -> dict:
    """Every recorded CPU run, one table row per group, settings, note and epochs run (a stopped
    run apart from the finished ones, runs slowed by other work apart by their note): seeds,
    accuracy statistics, seconds from launch to exit and how many trainings ran at once; {} if
    the folder holds no record."""
    path = folder / CPU_RUNS
    if not path.is_file():
        return {}
    record = read_json(path, "CPU run record")
    try:
        rows: dict[tuple, list[dict]] = {}
        for run in record["runs"]:
            rows.setdefault((run_label(run), run["epochs_run"]), []).append(run)
        table = [cpu_row(*key, runs) for key, runs in rows.items()]
        device = record["device"]
    except (KeyError, TypeError, ValueError, AttributeError, statistics.StatisticsError) as exc:
        raise SiteError(f"{path}: not a CPU run record ({exc!r})") from None
    header = ["group: settings", "epochs", "seeds", "runs", "mean", "range", f"< {TARGET}%",
              "seconds (trainings at once)"]  # fmt: skip
    return {"table": markdown_table(header, table), "device": device, "file": CPU_RUNS}
