"""MkDocs hooks: compute every page's equations, numbers, tables and plots while the site builds.

Each page in docs/ that has a builder below is a Jinja2 template; its builder returns the template's
variables and the files it links to (images, downloads), which are added to the site in memory
(File.generated), never written into docs/.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import page_check
import page_explained
import page_mnist
import page_playground
import page_table
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from site_common import PageData, Settings

from derive.config import ConfigError, load_config
from derive.evaluate import evaluator_for

MATHJAX = Path("node_modules", "mathjax", "es5", "tex-svg.js")
MATHJAX_SITE_PATH = "javascripts/tex-svg.js"

_settings: Settings | None = None
_pages: dict[str, PageData] = {}


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    global _settings
    _settings = Settings.from_mkdocs(config.config_file_path, config.extra)
    if not (_settings.root / MATHJAX).is_file():
        raise PluginError(
            f"MathJax is missing: {_settings.root / MATHJAX} not found; "
            f"run `npm ci` in {_settings.root} first"
        )
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    assert _settings is not None
    try:
        derive_config = load_config(_settings.derive_config)
    except ConfigError as exc:
        raise PluginError(f"derive config: {exc}") from None
    evaluator = evaluator_for(derive_config.network)
    _pages.clear()
    _pages.update(
        {
            "explained.md": page_explained.build(
                derive_config, evaluator, _settings.shown(_settings.derive_config)
            ),
            "table.md": page_table.build(derive_config, evaluator),
            "check.md": page_check.build(derive_config, evaluator),
            "mnist.md": page_mnist.build(_settings),
            "playground.md": page_playground.build(
                derive_config, evaluator, _settings.shown(_settings.derive_config)
            ),
        }
    )
    files.append(
        File.generated(config, MATHJAX_SITE_PATH, abs_src_path=str(_settings.root / MATHJAX))
    )
    for page in _pages.values():
        for site_path, content in page.files.items():
            if isinstance(content, Path):
                files.append(File.generated(config, site_path, abs_src_path=str(content)))
            else:
                files.append(File.generated(config, site_path, content=content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    data = _pages.get(page.file.src_uri)
    if data is None:
        return markdown
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        return environment.from_string(markdown).render(data.context)
    except jinja2.TemplateError as exc:
        raise PluginError(f"docs/{page.file.src_uri}: template error: {exc}") from None
