"""derive plot: a valid PNG or SVG with title, axis labels, a legend and one line per lr."""

from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from derive.__main__ import main
from derive.config import load_config
from derive.plot import TITLE, error_figure, plot_bytes
from derive.table import iteration_table

pytestmark = pytest.mark.core

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DIVERGES = Path(__file__).parent / "configs" / "table_linear_diverges.toml"


def test_figure_draws_total_error_per_learning_rate():
    table = iteration_table(load_config(), [0.5, 2.0], 20)
    axes = error_figure(table).axes[0]
    assert axes.get_title() == TITLE
    assert axes.get_xlabel() == "step (weight update)"
    assert axes.get_ylabel() == r"$E_{\mathrm{total}}$"
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["lr = 0.5", "lr = 2.0"]
    for line, errors in zip(axes.get_lines(), table.column("E_total"), strict=True):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(21))
        np.testing.assert_array_equal(line.get_ydata(), errors)


def test_diverged_run_says_so_in_the_legend():
    table = iteration_table(load_config(DIVERGES), [0.5, 100.0], 200)
    legend = [t.get_text() for t in error_figure(table).axes[0].get_legend().get_texts()]
    assert legend[0] == "lr = 0.5"
    assert legend[1].startswith("lr = 100.0 (diverged at step ")


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_cli_writes_a_valid_file(suffix, tmp_path, capsys):
    out = tmp_path / f"errors{suffix}"
    code = main(["plot", "--lr", "0.5", "1", "--steps", "30", "--out", str(out)])
    assert code == 0 and capsys.readouterr().err == ""
    data = out.read_bytes()
    if suffix == ".png":
        assert data.startswith(PNG_SIGNATURE)
    else:
        svg = ElementTree.fromstring(data)
        assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_svg_is_reproducible():
    table = iteration_table(load_config(), [1.0], 5)
    assert plot_bytes(table, "svg") == plot_bytes(table, "svg")


@pytest.mark.parametrize(
    "args",
    [
        ["--out", "errors.gif"],
        ["--out", "no/such/folder/errors.png"],
        [],
        ["--lr", "0", "--out", "errors.png"],
    ],
    ids=["suffix", "missing folder", "no out", "bad lr"],
)
def test_bad_input_is_one_line_and_exit_2(args, capsys):
    try:
        code = main(["plot", *args])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
