"""Matt Mazur's "A Step by Step Backpropagation Example" (2015), exactly: every number his post
prints, in his names, beside this code's value for it, compared at the digits he prints.

Five of his numbers are not what his own steps give, and each is explained by a computation
here, checked while the site builds: the error after one round and the two outputs after 10,000
come from updating the output weights before backpropagating through them (his post says to use
the original weights, as this code does); the error after 10,000 rounds is the error before the
10,000th update; dE_o2/dout_h1 multiplies a delta he rounded to nine decimals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from derive import table as iteration
from derive.config import Config, ConfigError, load_config
from derive.evaluate import at_values, evaluator_for
from sitegen.site_common import SiteError, markdown_table, number, site_path

CONFIG = Path("derive", "configs", "mazur.toml")
LR = 0.5  # his learning rate
ROUNDS = 10_000  # "After repeating this process 10,000 times"
POST = "https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/"


@dataclass(frozen=True)
class Published:
    """One number of his post: what it is in his names (LaTeX), as printed, and this code's."""

    his: str
    printed: str
    ours: float
    note: int = 0  # the note that explains a difference (0: none expected)

    @property
    def agrees(self) -> bool:
        """This code's value, rounded to his decimals, is his number."""
        return agrees(self.ours, self.printed)


def agrees(value: float, printed: str) -> bool:
    decimals = len(printed.partition(".")[2])
    return abs(value - float(printed)) <= 0.5 * 10.0**-decimals * (1 + 1e-9)


def d(of: str, by: str) -> str:
    return rf"\frac{{\partial {of}}}{{\partial {by}}}"


def published(v: dict[str, float], new: dict[str, float], after: dict[str, float]) -> list:
    """His numbers in the order of his post, each with this code's value."""
    delta_o1, delta_o2 = v["delta_o1"], v["delta_o2"]
    out_o1, out_h1 = v["a_o1"], v["a_h1"]
    rows = [
        (r"net_{h1}", "0.3775", v["h1"]),
        (r"out_{h1}", "0.593269992", out_h1),
        (r"out_{h2}", "0.596884378", v["a_h2"]),
        (r"net_{o1}", "1.105905967", v["o1"]),
        (r"out_{o1}", "0.75136507", out_o1),
        (r"out_{o2}", "0.772928465", v["a_o2"]),
        (r"E_{o1}", "0.274811083", v["E1"]),
        (r"E_{o2}", "0.023560026", v["E2"]),
        (r"E_{total}", "0.298371109", v["E_total"]),
        (d("E_{total}", "out_{o1}"), "0.74136507", out_o1 - v["t1"]),
        (d("out_{o1}", "net_{o1}"), "0.186815602", out_o1 * (1 - out_o1)),
        (d("net_{o1}", "w_5"), "0.593269992", out_h1),
        (d("E_{total}", "w_5"), "0.082167041", v["dE_total/dw5"]),
        (r"w_5^+", "0.35891648", new["w5"]),
        (r"w_6^+", "0.408666186", new["w6"]),
        (r"w_7^+", "0.511301270", new["w7"]),
        (r"w_8^+", "0.561370121", new["w8"]),
        (d("E_{o1}", "net_{o1}"), "0.138498562", delta_o1),
        (d("E_{o1}", "out_{h1}"), "0.055399425", delta_o1 * v["w5"]),
        (d("E_{o2}", "out_{h1}"), "-0.019049119", delta_o2 * v["w7"], 3),
        (d("E_{total}", "out_{h1}"), "0.036350306", delta_o1 * v["w5"] + delta_o2 * v["w7"]),
        (d("out_{h1}", "net_{h1}"), "0.241300709", out_h1 * (1 - out_h1)),
        (d("net_{h1}", "w_1"), "0.05", v["i1"]),
        (d("E_{total}", "w_1"), "0.000438568", v["dE_total/dw1"]),
        (r"w_1^+", "0.149780716", new["w1"]),
        (r"w_2^+", "0.19956143", new["w2"]),
        (r"w_3^+", "0.24975114", new["w3"]),
        (r"w_4^+", "0.29950229", new["w4"]),
    ]
    rounds = rf"\text{{ after {ROUNDS:,} rounds}}"
    return [
        *(Published(*row) for row in rows),
        Published(r"E_{total} \text{ after 1 round}", "0.291027924", after["E_1"], 1),
        Published(rf"E_{{total}} {rounds}", "0.0000351085", after["E_last"], 2),
        Published(rf"out_{{o1}} {rounds}", "0.015912196", after["out_o1"], 1),
        Published(rf"out_{{o2}} {rounds}", "0.984065734", after["out_o2"], 1),
    ]


def stale_order(config: Config, rounds: int) -> list[dict[str, float]]:
    """His code's order on his 2-2-2 network: the output weights are updated first and the hidden
    layer's gradients then use the new ones. E_total and the outputs after each round."""
    v = config.values
    i1, i2 = v.inputs
    t1, t2 = v.targets
    w = list(v.weights)
    b = list(v.biases)

    def forward(w):
        a_h1 = 1 / (1 + math.exp(-(w[0] * i1 + w[1] * i2 + b[0])))
        a_h2 = 1 / (1 + math.exp(-(w[2] * i1 + w[3] * i2 + b[1])))
        a_o1 = 1 / (1 + math.exp(-(w[4] * a_h1 + w[5] * a_h2 + b[2])))
        a_o2 = 1 / (1 + math.exp(-(w[6] * a_h1 + w[7] * a_h2 + b[3])))
        return a_h1, a_h2, a_o1, a_o2

    history = []
    for _ in range(rounds):
        a_h1, a_h2, a_o1, a_o2 = forward(w)
        d1, d2 = (a_o1 - t1) * a_o1 * (1 - a_o1), (a_o2 - t2) * a_o2 * (1 - a_o2)
        w[4:] = [w[4] - LR * d1 * a_h1, w[5] - LR * d1 * a_h2,
                 w[6] - LR * d2 * a_h1, w[7] - LR * d2 * a_h2]  # fmt: skip
        e1 = (d1 * w[4] + d2 * w[6]) * a_h1 * (1 - a_h1)  # w5, w7 already updated
        e2 = (d1 * w[5] + d2 * w[7]) * a_h2 * (1 - a_h2)
        w[:4] = [w[0] - LR * e1 * i1, w[1] - LR * e1 * i2, w[2] - LR * e2 * i1, w[3] - LR * e2 * i2]
        _, _, a_o1, a_o2 = forward(w)
        history.append({"E": 0.5 * (t1 - a_o1) ** 2 + 0.5 * (t2 - a_o2) ** 2,
                        "out_o1": a_o1, "out_o2": a_o2})  # fmt: skip
    return history


def mazur_section(root: Path) -> dict:
    """The page's section on his example: the table of his numbers and the notes."""
    try:
        config = load_config(root / CONFIG)
    except ConfigError as exc:
        raise SiteError(f"Mazur's config: {exc}") from None
    evaluator = evaluator_for(config.network)
    v = at_values(evaluator, config.values)
    v |= dict(zip(("i1", "i2"), config.values.inputs, strict=True))
    v |= dict(zip(("t1", "t2"), config.values.targets, strict=True))
    v |= {f"w{k + 1}": w for k, w in enumerate(config.values.weights)}
    table = iteration.iteration_table(config, (LR,), ROUNDS, evaluator)
    new = {f"w{k}": float(table.column(f"w{k}")[0, 1]) for k in range(1, 9)}
    error = table.column("E_total")[0]
    after = {
        "E_1": float(error[1]),
        "E_last": float(error[ROUNDS]),
        "out_o1": float(table.column("a_o1")[0, ROUNDS]),
        "out_o2": float(table.column("a_o2")[0, ROUNDS]),
    }
    rows = published(v, new, after)
    stale = stale_order(config, ROUNDS)
    # Each explanation must hold, or the page would say something untrue.
    explained = {
        1: [
            agrees(stale[0]["E"], "0.291027924"),
            agrees(stale[-1]["out_o1"], "0.015912196"),
            agrees(stale[-1]["out_o2"], "0.984065734"),
        ],
        2: [agrees(float(error[ROUNDS - 1]), "0.0000351085")],
        3: [agrees(round(v["delta_o2"], 9) * v["w7"], "-0.019049119")],
    }
    for row in rows:
        if row.agrees != (row.note == 0) or (row.note and not all(explained[row.note])):
            raise SiteError(f"Mazur's {row.his} = {row.printed}: this code gives {row.ours!r}")
    marks = {0: "yes", **{k: f"no: note {k}" for k in explained}}
    return {
        "post": POST,
        "config": CONFIG.as_posix(),
        "download": site_path(CONFIG.name),
        "lr": number(LR),
        "rounds": f"{ROUNDS:,}",
        "table": markdown_table(
            ["his quantity", "his post", "this code", "agrees"],
            [
                [
                    rf"\({upright(r.his)}\)",
                    r.printed.replace("-", "−"),
                    signed(r.ours),
                    marks[r.note],
                ]
                for r in rows
            ],
        ),
        "count": len(rows),
        "agree": sum(r.agrees for r in rows),
        "stale_1": signed(stale[0]["E"]),
        "stale_last": [signed(stale[-1]["out_o1"]), signed(stale[-1]["out_o2"])],
        "before_last": signed(float(error[ROUNDS - 1])),
        "ours_1": signed(after["E_1"]),
        "ours_last": signed(after["E_last"]),
        "ours_out": [signed(after["out_o1"]), signed(after["out_o2"])],
        "delta_o2": signed(v["delta_o2"]),
        "delta_o2_his": signed(round(v["delta_o2"], 9)),
        "biases": [number(config.values.biases[0]), number(config.values.biases[-1])],
    }


def upright(tex: str) -> str:
    """His multi-letter names upright: net_{h1} -> \\mathrm{net}_{h1}, E_{total} -> ..."""
    for word in ("net", "out"):
        tex = tex.replace(f"{word}_", rf"\mathrm{{{word}}}_")
    return tex.replace("E_{total}", r"E_{\text{total}}")


def signed(value: float) -> str:
    """10 significant digits without an exponent (his numbers have none), minus as −."""
    text = np.format_float_positional(value, precision=10, unique=False, fractional=False)
    return minus(text.rstrip("0").rstrip("."))


def minus(text: str) -> str:
    return text.replace("-", "−")
