"""`mkdocs build` given a hostile BACKPROP_CONFIG: refused in one line, without waiting or reading
without end, and no traceback (the site reads the config through derive.config.load_config)."""

from __future__ import annotations

import os
import time

import pytest

from derive.config import MAX_NESTING


def nested(path):
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    return f"{path}: arrays or tables nested 5000 deep; at most {MAX_NESTING} are read"


def fifo(path):
    os.mkfifo(path)
    return f"{path}: is a FIFO (named pipe), not a regular file"


@pytest.mark.parametrize("make", [nested, fifo], ids=["nested 5000 deep", "FIFO"])
def test_hostile_site_config_is_one_error_line(mkdocs_run, tmp_path, make):
    config = tmp_path / "net.toml"
    expected = make(config)
    start = time.monotonic()
    done = mkdocs_run(tmp_path / "site", {"BACKPROP_CONFIG": str(config)})
    assert time.monotonic() - start < 120
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [f"ERROR   -  derive config: {expected}"]
