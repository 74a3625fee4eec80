"""The home page: the network the site explains, drawn as on Backpropagation explained."""

from __future__ import annotations

from sitegen.site_common import PageData, Site
from sitegen.svg_network import diagram_html


def build(site: Site) -> PageData:
    network = site.evaluator.network
    return PageData(
        {
            "diagram": diagram_html(network),
            "source": site.source,
            "weights": len(network.weights),
        }
    )
