"""MkDocs hooks: the only module that speaks MkDocs' plugin API.

Each page in docs/ named in sitegen.pages.BUILDERS is a Jinja2 template; its builder returns the
template's variables and the files it links to (images, downloads), which are added to the site in
memory (File.generated), never written into docs/.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from sitegen.pages import generate
from sitegen.plain_math import plain_toc, searchable
from sitegen.site_common import PageData, Settings, SiteError

MATHJAX = Path("node_modules", "mathjax", "es5", "tex-svg.js")
MATHJAX_SITE_PATH = "javascripts/tex-svg.js"

_settings: Settings | None = None
_pages: dict[str, PageData] = {}


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    global _settings
    try:
        _settings = Settings.from_mkdocs(config.config_file_path, config.extra)
    except SiteError as exc:
        raise PluginError(str(exc)) from None
    if not (_settings.root / MATHJAX).is_file():
        raise PluginError(
            f"MathJax is missing: {_settings.root / MATHJAX} not found; "
            f"run `npm ci` in {_settings.root} first"
        )
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    assert _settings is not None
    try:
        pages = generate(_settings)
    except SiteError as exc:
        raise PluginError(str(exc)) from None
    _pages.clear()
    _pages.update(pages)
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


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    # Search indexes the page after this and MathJax never sees the table of contents: both get
    # the equations as plain text (sitegen.plain_math).
    plain_toc(page.toc.items)
    return searchable(html)


def on_serve(server, config: MkDocsConfig, builder):
    # `mkdocs serve` watches docs/ and mkdocs.yml; the pages are also made from the derive config,
    # the code that derives and renders them, and the MNIST runs: an edit there rebuilds too.
    assert _settings is not None
    for path in watched(_settings):
        server.watch(str(path))
    return server


def watched(settings: Settings) -> list[Path]:
    """What the pages are generated from, besides docs/ and mkdocs.yml (that exists)."""
    root = settings.root
    paths = [settings.derive_config, root / "derive", root / "sitegen", root / "mnist"]
    paths += [settings.mnist_reference, *([settings.mnist_run] if settings.mnist_run else [])]
    return [path for path in dict.fromkeys(paths) if path.exists()]
