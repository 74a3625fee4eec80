"""The site's pages: which Markdown page each builder fills, and one build's generation."""

from __future__ import annotations

from collections.abc import Callable

from derive.config import ConfigError, load_config
from derive.evaluate import evaluator_for
from sitegen import (
    page_check,
    page_cnn,
    page_draw,
    page_explained,
    page_home,
    page_mnist,
    page_playground,
    page_table,
)
from sitegen.site_common import PageData, Settings, Site, SiteError

# Page (its path under docs/) -> the builder that returns its template variables and files.
BUILDERS: dict[str, Callable[[Site], PageData]] = {
    "index.md": page_home.build,
    "explained.md": page_explained.build,
    "cnn.md": page_cnn.build,
    "table.md": page_table.build,
    "check.md": page_check.build,
    "mnist.md": page_mnist.build,
    "playground.md": page_playground.build,
    "draw.md": page_draw.build,
}


def derive_site(settings: Settings) -> Site:
    """Load the derive config and derive its network, once for the whole build."""
    try:
        config = load_config(settings.derive_config)
    except ConfigError as exc:
        raise SiteError(f"derive config: {exc}") from None
    return Site(settings, config, evaluator_for(config.network))


def generate(settings: Settings) -> dict[str, PageData]:
    """Every page's data, from one derivation."""
    site = derive_site(settings)
    return {page: build(site) for page, build in BUILDERS.items()}
