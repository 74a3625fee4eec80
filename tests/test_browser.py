"""The built site in a real browser: headless Debian Chromium, driven by Selenium, on localhost.

Every page loads, MathJax typesets every equation without an error, every image loads, and no
request leaves localhost. A full-page screenshot of each page goes to test-artifacts/.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# data:, blob: and about: never touch a network; chrome:// is the browser's own new-tab page.
LOCAL_SCHEMES = {"data", "blob", "about", "chrome"}

pytestmark = pytest.mark.browser

# MathJax is done once its startup promise resolves; typesetting runs inside it.
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const wait = () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('typeset'), (e) => done('failed: ' + e));
  } else if (document.readyState === 'complete' && !document.querySelector('.arithmatex')) {
    done('no math');
  } else {
    setTimeout(wait, 50);
  }
};
wait();
"""

PAGE_STATE = """
const math = [...document.querySelectorAll('.arithmatex')];
return {
  math: math.length,
  untypeset: math.filter((el) => !el.querySelector('mjx-container')
                                 || /\\\\[\\(\\[]/.test(el.textContent)).length,
  errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
  images: [...document.images].map((img) => ({src: img.src, ok: img.complete
                                               && img.naturalWidth > 0})),
  diagrams: document.querySelectorAll('.diagram svg').length,
  drawings: [...document.querySelectorAll('article svg')].filter(
    (svg) => !svg.closest('mjx-container, .md-icon, .twemoji, button, label')).length,
  title: document.title,
};
"""


class _NavLoader(yaml.SafeLoader):
    """mkdocs.yml may hold !!python/name tags (emoji, superfences); the nav needs none."""


_NavLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def nav_pages() -> list[str]:
    """The URL path of every page in mkdocs.yml's nav ('' for the home page), in nav order."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_NavLoader)

    def walk(items) -> list[str]:
        found = []
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(value, list):
                found += walk(value)
            elif value.endswith(".md"):
                found.append("" if value == "index.md" else value.removesuffix(".md") + "/")
        return found

    return walk(config["nav"])


def site_pages(site_dir: Path) -> list[str]:
    """Every page of the site, as its URL path ('' for the home page)."""
    pages = [p.parent.relative_to(site_dir).as_posix() for p in site_dir.rglob("index.html")]
    return sorted("" if p == "." else p + "/" for p in pages)


def network_events(driver) -> list[dict]:
    """The DevTools network events logged since the last call."""
    events = (json.loads(entry["message"])["message"] for entry in driver.get_log("performance"))
    return [e for e in events if e["method"].startswith("Network.")]


def test_site_has_the_expected_pages(site_dir):
    assert site_pages(site_dir) == sorted(nav_pages())
    assert {"", "explained/", "table/", "check/", "mnist/", "playground/"} <= set(nav_pages())


@pytest.mark.parametrize("page", nav_pages())
def test_page_renders_offline(page, server, browser, screenshot):
    network_events(browser)  # drop what earlier pages logged
    browser.get_log("browser")
    browser.get(f"{server}/{page}")
    assert browser.execute_async_script(WAIT_FOR_MATHJAX) in ("typeset", "no math")
    state = browser.execute_script(PAGE_STATE)
    screenshot(f"site-{page.strip('/') or 'home'}.png")

    assert state["untypeset"] == 0, f"{state['untypeset']} of {state['math']} equations not typeset"
    assert state["errors"] == 0, "MathJax error nodes on the page"
    broken = [img["src"] for img in state["images"] if not img["ok"]]
    assert not broken, f"images that did not load: {broken}"
    if page in ("table/", "mnist/"):
        assert state["images"] or state["drawings"], "the page should show its generated pictures"
    if page in ("", "explained/"):
        assert state["diagrams"] == 2, "the network drawn wide and tall, inline"
    if page in ("explained/", "table/"):
        assert state["math"] > 0

    events = network_events(browser)
    urls = [
        e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"
    ]
    leaving = [u for u in urls if urlparse(u).scheme not in LOCAL_SCHEMES
               and urlparse(u).hostname not in LOCAL_HOSTS]  # fmt: skip
    assert urls and not leaving, f"requests that leave localhost: {leaving}"
    failed = [
        (e["params"]["response"]["url"], e["params"]["response"]["status"])
        for e in events
        if e["method"] == "Network.responseReceived" and e["params"]["response"]["status"] >= 400
    ]
    assert not failed, f"requests that failed: {failed}"
    errors = [
        entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"
    ]
    assert not errors, f"errors in the browser console: {errors}"


def test_search_and_contents_show_math_as_text(server, browser):
    """Searching "delta" finds the deltas; results and the table of contents hold no TeX."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/explained/")
    assert browser.execute_async_script(WAIT_FOR_MATHJAX) == "typeset"
    contents = browser.execute_script(
        "return [...document.querySelectorAll('.md-sidebar--secondary .md-nav__link')]"
        ".map((a) => a.textContent.trim())"
    )
    assert "Delta of o1, δo1" in contents
    assert not [c for c in contents if "\\" in c], contents
    browser.execute_script("document.querySelector('.md-header label[for=__search]').click()")
    query = browser.find_element(By.CSS_SELECTOR, "input[data-md-component=search-query]")
    query.send_keys("delta")
    results = WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, ".md-search-result__item a")
    )
    links = [r.get_attribute("href") for r in results]
    assert any(link.endswith("/explained/#delta_o1") for link in links), links
    shown = browser.find_element(By.CSS_SELECTOR, ".md-search-result").text
    assert "\\(" not in shown and "\\frac" not in shown and "Delta of o1" in shown
