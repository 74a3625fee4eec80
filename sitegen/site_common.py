"""What every page builder shares: the build's settings and derived network, a page's generated
data, number formats."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from derive.config import Config
from derive.evaluate import Evaluator
from derive.xlsx import saved_at
from safeio.inputs import InputError

CONFIG_ENV = "BACKPROP_CONFIG"
MNIST_RUN_ENV = "BACKPROP_MNIST_RUN"
GENERATED = "generated"  # folder of the site that holds every generated image and download


@dataclass(frozen=True)
class Settings:
    """Where this build reads from: the repository, the derive config, the MNIST runs."""

    root: Path  # the folder of mkdocs.yml
    derive_config: Path
    mnist_reference: Path
    mnist_run: Path | None

    @classmethod
    def from_mkdocs(cls, config_file: str, extra: dict) -> Settings:
        """Paths from mkdocs.yml `extra` (relative to it), overridden by the environment
        (relative to the working folder, as a shell user types them)."""
        root = Path(config_file).resolve().parent

        def path(env: str, key: str) -> Path | None:
            if os.environ.get(env):
                return Path(os.environ[env]).resolve()
            return (root / extra[key]).resolve() if extra.get(key) else None

        try:
            saved_at()  # a bad SOURCE_DATE_EPOCH in one line now, not a traceback mid-build
        except InputError as exc:
            raise SiteError(str(exc)) from None
        derive_config = path(CONFIG_ENV, "derive_config")
        if derive_config is None:
            raise SiteError(f"{config_file}: extra.derive_config is required (a derive config)")
        if not isinstance(extra.get("mnist_reference"), str) or not extra["mnist_reference"]:
            raise SiteError(
                f"{config_file}: extra.mnist_reference is required (the folder of the MNIST "
                "reference runs, e.g. mnist/reference)"
            )
        return cls(
            root=root,
            derive_config=derive_config,
            mnist_reference=root / extra["mnist_reference"],
            mnist_run=path(MNIST_RUN_ENV, "mnist_run"),
        )

    def shown(self, path: Path) -> str:
        """A path as the page shows it: relative to the repository when inside it."""
        return (
            path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
        )


class SiteError(Exception):
    """A page cannot be generated: the message is the one line the build prints."""


@dataclass(frozen=True)
class Site:
    """What every page builder receives: the settings and the network derived once per build."""

    settings: Settings
    config: Config  # the derive config the pages show
    evaluator: Evaluator  # its derivation, compiled; evaluator.network is the Network

    @property
    def source(self) -> str:
        """The derive config's path as the pages name it."""
        return self.settings.shown(self.settings.derive_config)


@dataclass
class PageData:
    """A page's template variables and the files it links to (site path -> bytes or a file)."""

    context: dict
    files: dict[str, bytes | str | Path] = field(default_factory=dict)


def site_path(name: str) -> str:
    """Where a generated file lies in the site, e.g. generated/network.svg."""
    return f"{GENERATED}/{name}"


def number(value: float, digits: int = 9) -> str:
    """A float for reading: `digits` significant digits, no trailing zeros."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def text_number(value: float, digits: int = 9) -> str:
    """number() for text and tables: a minus sign (−), as every page writes it, not a hyphen."""
    return number(value, digits).replace("-", "−")


def latex_number(value: float, digits: int = 9, factor: bool = True) -> str:
    """A float as LaTeX: 1.5e-05 becomes 1.5 \\times 10^{-5}; a negative factor in parentheses."""
    text = number(value, digits)
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return rf"\left({text}\right)" if value < 0 and factor else text


def script_json(value) -> str:
    """JSON safe inside an HTML <script> element (no "</" can end it early)."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def markdown_table(header: list[str], rows: list[list[str]], align: str = "-:") -> str:
    """A Markdown table; `align` is the marker for every column but the first."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", *[f"-{align}"] * (len(header) - 1)]) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    return "\n".join(lines)
