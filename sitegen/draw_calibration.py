"""The Draw page's "unsure": the thresholds `python -m mnist.calibrate` measured on the MNIST test
set, read from calibration.json beside the weights, used only with the weights they were measured
on (their SHA-256 must match)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from mnist.names import CALIBRATION as NAME  # mnist.names needs no torch
from safeio.inputs import InputError, read_bytes, read_text
from sitegen.site_common import SiteError

MAX_BYTES = 1 << 16
WEIGHTS_MAX_BYTES = 1 << 26
NUMBERS = ("threshold", "ink_low", "ink_high")
COUNTS = ("test_digits", "unsure", "unsure_probability", "unsure_ink", "unsure_right", "sure_right")


def calibration_context(weights: Path) -> dict:
    """What the page says and its script uses; {"missing": why} without a matching file."""
    path = weights.parent / NAME
    if not path.is_file():
        return {"missing": f"no {NAME} beside the weights (python -m mnist.calibrate writes one)"}
    try:
        found = json.loads(read_text(path, MAX_BYTES))
        digest = hashlib.sha256(read_bytes(weights, WEIGHTS_MAX_BYTES)).hexdigest()
    except (InputError, ValueError, RecursionError) as exc:
        raise SiteError(f"{path}: cannot be read: {exc}") from None
    if not well_formed(found):
        wanted = f"numbers {', '.join(NUMBERS)} and counts {', '.join(COUNTS)}"
        raise SiteError(f"{path}: needs {wanted}")
    if found.get("weights_sha256") != digest:
        return {"missing": f"{NAME} was measured on other weights than {weights.name}"}
    total = found["test_digits"]
    sure = total - found["unsure"]
    return {
        "missing": "",
        "threshold": found["threshold"],
        "ink_low": found["ink_low"],
        "ink_high": found["ink_high"],
        "threshold_percent": f"{100 * found['threshold']:.1f}",
        "total": f"{total:,}",
        "unsure": f"{found['unsure']:,}",
        "unsure_percent": f"{100 * found['unsure'] / total:.2f}",
        "by_probability": f"{found['unsure_probability']:,}",
        "by_ink": f"{found['unsure_ink']:,}",
        "unsure_right_percent": percent(found["unsure_right"], found["unsure"]),
        "sure_right_percent": percent(found["sure_right"], sure),
    }


def well_formed(found: object) -> bool:
    if not isinstance(found, dict):
        return False
    numbers = all(
        isinstance(found.get(k), int | float) and math.isfinite(found[k]) for k in NUMBERS
    )
    return numbers and all(type(found.get(k)) is int and found[k] >= 0 for k in COUNTS)


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}" if whole else "–"
