"""One kind of minus sign across the site: every negative number and negative exponent a reader
sees in the text and tables of the pages is written with − (U+2212), as the equations MathJax
typesets are, never with the hyphen -.

Skipped: code, equations (MathJax sets their minus signs), scripts, drawings and the hidden
plain-text twins search reads. The MNIST page's training settings are quoted as their config
writes them (weight_decay = 5e-05), so that page is not checked here.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

PAGES = ("index.html", "explained/index.html", "table/index.html", "cnn/index.html",
         "playground/index.html", "check/index.html", "draw/index.html")  # fmt: skip
HYPHEN_NUMBER = re.compile(r"(?<![\w.])-\d|\de-\d")
SKIPPED = ("script", "style", "code", "pre", "svg")


class Text(HTMLParser):
    """The text a reader sees, outside code, equations, drawings and hidden elements."""

    def __init__(self):
        super().__init__()
        self.stack: list[bool] = []
        self.skipping = 0
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        skip = (
            tag in SKIPPED
            or "arithmatex" in (attributes.get("class") or "")
            or "hidden" in attributes
        )
        if tag in ("br", "img", "input", "hr", "meta", "link"):
            return  # void elements have no end tag
        self.stack.append(skip)
        self.skipping += skip

    def handle_endtag(self, tag):
        if self.stack:
            self.skipping -= self.stack.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.found += [data[max(0, m.start() - 20) : m.end() + 10] for m in
                           HYPHEN_NUMBER.finditer(data)]  # fmt: skip


@pytest.mark.parametrize("page", PAGES)
def test_numbers_are_written_with_minus_signs(site_dir: Path, page: str):
    parser = Text()
    parser.feed((site_dir / page).read_text(encoding="utf-8"))
    assert not parser.found, f"{page}: a hyphen for a minus sign in {parser.found[:5]}"


def test_the_check_finds_a_hyphen():
    parser = Text()
    parser.feed("<p>a gradient of -0.0425 and 4.2e-05</p><code>x = -1</code>"
                "<span class='search-only' hidden>10<sup>-6</sup></span>")  # fmt: skip
    assert len(parser.found) == 2 and "-0.0425" in parser.found[0] and "e-05" in parser.found[1]
