"""A run's metrics.jsonl: one JSON object per epoch, read back checked and rewritten whole.

No torch here, so the site can read the committed reference runs without the mnist extra.
"""

import json
import math
from pathlib import Path

from mnist.cli import DataError
from safeio.atomic import write_text_atomic
from safeio.inputs import InputError, read_text

METRIC_KEYS = ("epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds")
MAX_BYTES = 4 * 1024 * 1024  # a line is ~200 bytes; training stops at 1,000 epochs


def parse_line(path: Path, number: int, line: str) -> dict:
    """One epoch's metrics from line `number` of `path`; DataError names what is wrong."""
    try:
        metrics = json.loads(line)
    except RecursionError:
        raise DataError(f"{path}: line {number} is nested too deeply to be metrics") from None
    except ValueError as err:  # JSONDecodeError, or an integer of over 4,300 digits
        reason = getattr(err, "msg", str(err).split(";")[0])
        raise DataError(f"{path}: line {number} is not JSON ({reason}); partly written?") from None
    if not isinstance(metrics, dict):
        raise DataError(f"{path}: line {number} is not a JSON object")
    missing = [key for key in METRIC_KEYS if key not in metrics]
    if missing:
        raise DataError(f"{path}: line {number} lacks {', '.join(missing)}")
    for key in METRIC_KEYS:
        value = metrics[key]
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not (number_ok and math.isfinite(value)):
            raise DataError(f"{path}: line {number}: {key} is {value!r}, expected a finite number")
    return metrics


def read_metrics(path: Path) -> list[dict]:
    """One dict per epoch from a metrics.jsonl; a missing or broken file is a DataError."""
    try:
        text = read_text(path, MAX_BYTES)
    except InputError as err:
        raise DataError(str(err)) from None
    lines = enumerate(text.splitlines(), 1)
    return [parse_line(path, number, line) for number, line in lines if line.strip()]


def write_metrics(path: Path, metrics: list[dict]) -> None:
    """Rewrite the whole file atomically: a killed run never leaves half a line."""
    write_text_atomic(path, "".join(json.dumps(m) + "\n" for m in metrics))
