"""Math as plain text where MathJax does not reach: the table of contents and the search index.

MathJax typesets the page, but the table of contents and the search index take a heading's or a
paragraph's text as written, TeX and all (`\\(\\delta_{o1}\\)`). Here each inline equation becomes
text with sub- and superscripts (pylatexenc turns the TeX into Unicode: δ, ∂, σ), for the table of
contents, and for search in a hidden twin beside the equation, which search indexes in its place;
display equations, and the drawings' SVG text, are left out of search.
"""

from __future__ import annotations

import html
import re

from mkdocs.structure.toc import AnchorLink
from pylatexenc.latex2text import LatexNodes2Text

INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', flags=re.S)
# Blocks search skips: display equations and the inline drawings (their labels are not prose).
UNSEARCHED = re.compile(r'<div class="(arithmatex|diagram[^"]*)"')
# Search drops the attribute from the page once it has read it (only with a value).
EXCLUDE = 'data-search-exclude="1"'
TEX_IN_TEXT = re.compile(r"\\\((.*?)\\\)", flags=re.S)
SCRIPT = re.compile(r"([_^])(-?[\w+.′]+)")
TAG = {"_": "sub", "^": "sup"}

_TEXT = LatexNodes2Text(math_mode="text")


def plain(tex: str) -> str:
    """TeX as HTML text: \\delta_{o1} -> δ<sub>o1</sub>, 10^{-6} -> 10<sup>-6</sup>."""
    text = html.escape(_TEXT.latex_to_text(tex), quote=False)
    return SCRIPT.sub(lambda m: "<{0}>{1}</{0}>".format(TAG[m[1]], m[2]), text)


def searchable(page_html: str) -> str:
    """The page with each inline equation's plain twin (hidden, indexed) and the equation itself
    and every display equation and drawing marked for search to skip."""

    def twin(match: re.Match) -> str:
        text = plain(html.unescape(match[1]))
        return (
            f'<span class="arithmatex" {EXCLUDE}>\\({match[1]}\\)</span>'
            f'<span class="search-only" hidden>{text}</span>'
        )

    marked = INLINE.sub(twin, page_html)
    return UNSEARCHED.sub(lambda m: f'<div class="{m[1]}" {EXCLUDE}', marked)


def plain_toc(items: list[AnchorLink]) -> None:
    """Every table-of-contents title with its TeX as plain text, in place."""
    for item in items:
        item.title = TEX_IN_TEXT.sub(lambda m: plain(html.unescape(m[1])), item.title)
        plain_toc(item.children)
