"""The classic example against numbers made without this project: a plain-Python oracle
(tests/classic_oracle.py, a dozen lines of arithmetic), and Matt Mazur's published numbers for
the variant with biases ("A Step by Step Backpropagation Example", 2015,
https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/).
"""

from __future__ import annotations

import json
from decimal import Decimal

import classic_oracle as oracle
import numpy as np
import pytest

from derive.__main__ import main
from derive.config import default_config_path, load_config
from derive.table import iteration_table

pytestmark = pytest.mark.core

MAZUR = default_config_path().with_name("mazur.toml")
NAMES = [f"w{j}" for j in range(1, 9)]

# Mazur's post, as printed (learning rate 0.5, biases 0.35 and 0.60 held fixed).
MAZUR_FORWARD = {"a_h1": "0.593269992", "a_h2": "0.596884378", "a_o1": "0.75136507",
                 "a_o2": "0.772928465", "E_total": "0.298371109"}  # fmt: skip
MAZUR_GRADIENTS = {"w1": "0.000438568", "w5": "0.082167041"}
MAZUR_UPDATED = {"w1": "0.149780716", "w2": "0.19956143", "w3": "0.24975114", "w4": "0.29950229",
                 "w5": "0.35891648", "w6": "0.408666186", "w7": "0.511301270",
                 "w8": "0.561370121"}  # fmt: skip
MAZUR_LR = 0.5


def printed(text: str):
    """pytest.approx of a printed number: within half a unit of its last digit."""
    places = -Decimal(text).as_tuple().exponent
    return pytest.approx(float(text), abs=0.5 * 10**-places)


def test_the_oracle_reproduces_mazurs_published_numbers():
    weights, biases = oracle.WEIGHTS, oracle.MAZUR_BIASES
    h1, h2, o1, o2 = oracle.forward(weights, biases)
    computed = {"a_h1": h1, "a_h2": h2, "a_o1": o1, "a_o2": o2}
    computed["E_total"] = oracle.total_error(weights, biases)
    assert computed == {name: printed(text) for name, text in MAZUR_FORWARD.items()}
    gradients = dict(zip(NAMES, oracle.gradients(weights, biases), strict=True))
    for name, text in MAZUR_GRADIENTS.items():
        assert gradients[name] == printed(text), name
    updated = dict(zip(NAMES, oracle.descend(MAZUR_LR, 1, weights, biases)[1], strict=True))
    assert updated == {name: printed(text) for name, text in MAZUR_UPDATED.items()}


def test_the_oracle_gives_the_classic_numbers():
    # The values every course sheet of the classic example quotes, at learning rate 1.
    history = oracle.descend(1.0, 100)
    assert oracle.total_error(history[0]) == printed("0.2425198573")
    assert oracle.total_error(history[1]) == printed("0.2285477653")
    assert oracle.total_error(history[100]) == printed("0.0123951242")


def test_the_table_follows_the_oracle_for_100_updates():
    table = iteration_table(load_config(), [0.5, 1.0, 2.0], 100)
    for k, lr in enumerate(table.learning_rates):
        history = oracle.descend(lr, 100)
        np.testing.assert_allclose(
            table.column("E_total")[k], [oracle.total_error(w) for w in history], rtol=1e-12
        )
        for j, name in enumerate(NAMES):
            np.testing.assert_allclose(table.column(name)[k], [w[j] for w in history], rtol=1e-12)
            np.testing.assert_allclose(
                table.column(f"dE/d{name}")[k],
                [oracle.gradients(w)[j] for w in history],
                rtol=1e-10,
                atol=1e-300,
            )


@pytest.mark.parametrize(
    ("config", "biases"), [(None, oracle.NO_BIASES), (MAZUR, oracle.MAZUR_BIASES)]
)
def test_derive_gradients_prints_the_oracles_numbers(config, biases, capsys):
    argv = ["gradients", "--format", "json"] + (["--config", str(config)] if config else [])
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    _, _, o1, o2 = oracle.forward(oracle.WEIGHTS, biases)
    assert report["loss"] == pytest.approx(oracle.total_error(oracle.WEIGHTS, biases), rel=1e-13)
    assert report["outputs"] == {"a_o1": pytest.approx(o1, rel=1e-13),
                                 "a_o2": pytest.approx(o2, rel=1e-13)}  # fmt: skip
    expected = dict(zip(NAMES, oracle.gradients(oracle.WEIGHTS, biases), strict=True))
    assert report["gradients"] == {k: pytest.approx(v, rel=1e-12) for k, v in expected.items()}


def test_the_mazur_table_matches_his_published_update():
    table = iteration_table(load_config(MAZUR), [MAZUR_LR], 1)
    assert table.column("E_total")[0, 0] == printed(MAZUR_FORWARD["E_total"])
    for name, text in MAZUR_UPDATED.items():
        assert table.column(name)[0, 1] == printed(text), name
