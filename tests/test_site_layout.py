"""Every page of the nav in a real browser, at 1280 px and at a phone's 390 px, light and dark.

Per page, width and palette: the document is no wider than the viewport; no two text labels of a
generated SVG overlap, none is under 11 CSS px and no line runs through a note (getBBox() in the
page, inline SVGs and SVG images alike); every table, display equation and code block is fully
visible or scrolls with a visible cue; axe-core reports no serious, critical or moderate
violation; a screenshot goes to test-artifacts/screenshots/.

One page only:  .venv/bin/python -m pytest tests/test_site_layout.py -k explained
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_browser import WAIT_FOR_MATHJAX, nav_pages

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = {"wide": (1280, 900), "phone": (390, 844)}
PALETTES = {"light": "default", "dark": "slate"}  # prefers-color-scheme -> Material's scheme
MIN_FONT_PX = 11.0
BLOCKING = ("moderate", "serious", "critical")  # moderate: landmark-unique, empty-table-header

pytestmark = pytest.mark.browser


# Runs in the page. Generated pictures: inline <svg> outside MathJax and the theme's icons, and
# every <img src="*.svg"> of the article, fetched and laid out off-screen at the image's own size.
LAYOUT = """
const done = arguments[arguments.length - 1];
const minFont = arguments[0];
const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
  + (typeof el.className === 'string' && el.className
     ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
const visible = (el) => el.getClientRects().length > 0
  && getComputedStyle(el).visibility !== 'hidden';
const article = document.querySelector('.md-content') || document.body;

async function svgs() {
  const found = [...article.querySelectorAll('svg')]
    .filter((s) => !s.closest('mjx-container, .md-icon, .twemoji, button, label, a.headerlink')
                   && !s.parentElement.closest('svg') && visible(s))
    .map((s) => ({svg: s, where: 'inline ' + name(s.parentElement)}));
  const holder = document.createElement('div');
  holder.style.cssText = 'position:absolute;left:-20000px;top:0;';
  document.body.appendChild(holder);
  for (const img of article.querySelectorAll('img')) {
    const src = img.currentSrc || img.src;  // a <picture> shows the source its media picks
    if (!/\\.svg(\\?|$)/.test(src) || !visible(img)) continue;
    const text = await (await fetch(src)).text();
    const svg = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
    svg.setAttribute('width', img.clientWidth);
    svg.setAttribute('height', img.clientHeight);
    if (!svg.getAttribute('viewBox')) continue;  // no viewBox: drawn at its own size, unscaled
    svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    holder.appendChild(document.importNode(svg, true));
    found.push({svg: holder.lastElementChild, where: 'image ' + src.split('/').pop()});
  }
  return {found, holder};
}

function box(el) {
  // getBBox() is in the element's own user space; getCTM() maps it into the SVG's CSS pixels.
  const b = el.getBBox(), m = el.getCTM();
  const xs = [], ys = [];
  for (const [x, y] of [[b.x, b.y], [b.x + b.width, b.y], [b.x, b.y + b.height],
                        [b.x + b.width, b.y + b.height]]) {
    xs.push(m.a * x + m.c * y + m.e); ys.push(m.b * x + m.d * y + m.f);
  }
  return {x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys),
          scale: Math.sqrt(Math.abs(m.a * m.d - m.b * m.c))};
}

async function check() {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) {
    const wide = [...document.body.querySelectorAll('*')].filter((el) => {
      if (!visible(el) || el.getBoundingClientRect().right <= doc.clientWidth + 1) return false;
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        if (scrolls(a) || getComputedStyle(a).overflowX === 'hidden') return false;
      }
      return true;
    }).slice(-4).map(name);
    problems.push(`document ${doc.scrollWidth}px wide in a ${doc.clientWidth}px viewport: ${wide}`);
  }
  const {found, holder} = await svgs();
  const pictures = [];
  for (const {svg, where} of found) {
    const labels = [...svg.querySelectorAll('text')]
      .filter((t) => t.textContent.trim() && getComputedStyle(t).display !== 'none'
                     && getComputedStyle(t).visibility !== 'hidden')
      .map((t) => ({t, b: box(t)})).filter(({b}) => b.x1 > b.x0 && b.y1 > b.y0);
    let smallest = Infinity;
    for (const el of svg.querySelectorAll('text, tspan')) {
      if (!el.textContent.trim() || getComputedStyle(el).display === 'none') continue;
      const size = parseFloat(getComputedStyle(el).fontSize) * box(el).scale;
      if (size < smallest) smallest = size;
      if (size < minFont - 0.05) {
        problems.push(`${where}: "${el.textContent.trim()}" is ${size.toFixed(1)} CSS px`);
        break;
      }
    }
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) {
        const a = labels[i].b, b = labels[j].b;
        const dx = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
        const dy = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
        if (dx > 0.5 && dy > 0.5) {
          problems.push(`${where}: labels "${labels[i].t.textContent.trim()}" and `
                        + `"${labels[j].t.textContent.trim()}" overlap `
                        + `(${dx.toFixed(1)} x ${dy.toFixed(1)} px)`);
        }
      }
    }
    // A note (the diagram's "target t1") is not crossed by a line: an arrow drawn through it.
    const segments = [...svg.querySelectorAll('line')].map((l) => {
      const m = l.getCTM();
      const at = (x, y) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
      const n = (name) => parseFloat(l.getAttribute(name));
      return [at(n('x1'), n('y1')), at(n('x2'), n('y2'))];
    });
    for (const {t, b} of labels.filter(({t}) => t.classList.contains('note'))) {
      const crossed = segments.some(([[x1, y1], [x2, y2]]) => [...Array(41).keys()].some((k) => {
        const x = x1 + (x2 - x1) * k / 40, y = y1 + (y2 - y1) * k / 40;
        return x > b.x0 + 1 && x < b.x1 - 1 && y > b.y0 + 1 && y < b.y1 - 1;
      }));
      if (crossed) problems.push(`${where}: a line runs through "${t.textContent.trim()}"`);
    }
    pictures.push({where, labels: labels.length, smallest});
  }
  holder.remove();
  const tables = [...article.querySelectorAll('table')].filter(visible);
  for (const table of tables) {
    let scroller = null;
    for (let a = table.parentElement; a && a !== article; a = a.parentElement) {
      if (scrolls(a)) { scroller = a; break; }
    }
    const label = (table.querySelector('th') || table).textContent.trim().slice(0, 30);
    const right = table.getBoundingClientRect().right;
    if (scroller && scroller.scrollWidth > scroller.clientWidth + 1) {
      const cue = scroller.closest('.scroll-cued');
      const shown = cue && [...cue.querySelectorAll('.scroll-cue')].some(visible);
      if (!shown) problems.push(`table "${label}" scrolls sideways with no visible cue`);
    } else if (right > (scroller || article).getBoundingClientRect().right + 1
               || right > doc.clientWidth + 1) {
      problems.push(`table "${label}" is cut at the right`);
    }
  }
  // Display equations and code blocks too: one that scrolls says so above it.
  for (const block of [...article.querySelectorAll('div.arithmatex, pre > code')].filter(visible)) {
    if (block.scrollWidth <= block.clientWidth + 1) continue;
    const cue = block.closest('.scroll-cued');
    if (!(cue && [...cue.querySelectorAll(':scope > .scroll-cue')].some(visible))) {
      problems.push(`${block.matches('code') ? 'code' : 'equation'} "`
                    + `${block.textContent.trim().slice(0, 30)}" scrolls sideways with no cue`);
    }
  }
  return {problems, pictures, tables: tables.length,
          scheme: document.body.getAttribute('data-md-color-scheme'),
          width: window.innerWidth};
}
check().then(done, (e) => done({problems: ['layout script failed: ' + e], pictures: []}));
"""

AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(
  (r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}))),
  (e) => done([{id: 'axe failed', impact: 'critical', help: String(e), nodes: []}]));
"""


@pytest.fixture
def viewport(browser):
    """viewport(width, height, palette): emulate that screen and OS colour scheme; undone after."""

    def apply(width: int, height: int, palette: str) -> None:
        browser.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )
        scheme = "dark" if palette == "dark" else "light"
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )

    yield apply
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def shoot(browser, path: Path) -> None:
    """The whole page, not only the window."""
    import base64

    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def first_visit(browser, server: str, page: str) -> None:
    """Open the page as on a first visit: a palette picked on an earlier visit is kept in the
    site's localStorage, so the page is loaded, that is emptied, and the page loaded again.
    (Emptying it with a script the new page runs first, one load, let the palette of the test
    before through once in a CI run.)"""
    browser.get(f"{server}/{page}")
    browser.execute_script("localStorage.clear()")
    browser.refresh()


@pytest.mark.parametrize("palette", PALETTES)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", nav_pages())
def test_page_layout_and_accessibility(page, width, palette, server, browser, viewport):
    viewport(*WIDTHS[width], palette)
    first_visit(browser, server, page)
    assert browser.execute_async_script(WAIT_FOR_MATHJAX) in ("typeset", "no math")
    state = browser.execute_async_script(LAYOUT, MIN_FONT_PX)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shoot(browser, SHOTS / f"{page.strip('/') or 'home'}-{width}-{palette}.png")
    assert state["scheme"] == PALETTES[palette], "the palette did not follow the OS preference"
    assert state["width"] == WIDTHS[width][0]

    browser.execute_script(AXE.read_text(encoding="utf-8"))
    violations = browser.execute_async_script(AXE_RUN)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    problems = state["problems"] + [
        f"axe {v['impact']} {v['id']}: {v['help']} at {v['nodes']}" for v in blocking
    ]
    assert not problems, "\n".join(problems) + "\npictures: " + json.dumps(state["pictures"])


def test_palette_toggle_switches_light_and_dark(server, browser, viewport):
    viewport(1280, 900, "light")
    first_visit(browser, server, "")
    scheme = 'return document.body.getAttribute("data-md-color-scheme")'
    assert browser.execute_script(scheme) == "default"
    browser.find_element(
        "css selector", "form[data-md-component=palette] label:not([hidden])"
    ).click()
    assert browser.execute_script(scheme) == "slate"
    browser.get(f"{server}/explained/")  # the choice is kept from page to page
    assert browser.execute_script(scheme) == "slate"
    browser.execute_script("localStorage.clear()")  # later tests start from the OS preference


# The page's own controls: hovered, then focused, each checked by axe-core's color-contrast rule
# in that state (axe sees only the state the page is in; transitions are switched off so that the
# state is the final one).
CONTROLS = (
    "article :is(button, .md-button, input, select, summary, .tabbed-labels > label, "
    "a[href]:not(.headerlink))"
)
NO_TRANSITIONS = """
const style = document.createElement('style');
style.textContent = '*, *::before, *::after { transition: none !important; }';
document.head.appendChild(style);
"""
NOT_TYPESET = """
return document.readyState === 'complete' && !(window.MathJax && MathJax.startup)
  && !document.querySelector('mjx-container');
"""
KIND = """
const el = arguments[0];
return [el.tagName, el.type || '', el.className, el.parentElement.className].join('|');
"""
AXE_CONTRAST = """
const done = arguments[arguments.length - 1];
axe.run(arguments[0], {runOnly: ['color-contrast'], resultTypes: ['violations']}).then(
  (r) => done(r.violations.flatMap((v) => v.nodes.map((n) => n.failureSummary))),
  (e) => done(['axe failed: ' + e]));
"""


@pytest.mark.parametrize("palette", PALETTES)
@pytest.mark.parametrize("page", nav_pages())
def test_controls_keep_contrast_on_hover_and_focus(page, palette, server, browser, viewport):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    viewport(1280, 900, palette)
    # The page without MathJax: its SVG holds no text for the color-contrast rule to check, and
    # each axe run walks every element of the page (12,000 of the Explained page's 13,800 are
    # MathJax's: 3 s a run, 16 runs). Typesetting does not touch the controls' colours; the test
    # above runs axe, color-contrast included, on the typeset page.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/tex-svg.js"]})
    try:
        first_visit(browser, server, page)
        assert browser.execute_script(NOT_TYPESET), "MathJax ran"
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        for log in ("browser", "performance"):  # the blocked script is this test's alone
            browser.get_log(log)
    browser.execute_script(NO_TRANSITIONS + AXE.read_text(encoding="utf-8"))
    problems, checked, kinds = [], 0, {}
    for control in browser.find_elements(By.CSS_SELECTOR, CONTROLS):
        # Controls alike (tag, type, classes, the classes of their parent) are styled alike:
        # the first three of each kind are checked.
        kind = browser.execute_script(KIND, control)
        kinds[kind] = kinds.get(kind, 0) + 1
        if kinds[kind] > 3 or not control.is_displayed():
            continue
        label = (control.text or control.get_attribute("aria-label") or control.tag_name)[:40]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", control)
        ActionChains(browser, duration=0).move_to_element(control).perform()
        problems += [
            f"hover {label!r}: {p}" for p in browser.execute_async_script(AXE_CONTRAST, control)
        ]
        browser.execute_script("arguments[0].focus()", control)
        ActionChains(browser, duration=0).move_by_offset(0, 0).move_to_element_with_offset(
            browser.find_element(By.TAG_NAME, "h1"), 0, 0
        ).perform()  # the pointer away: focus alone
        problems += [
            f"focus {label!r}: {p}" for p in browser.execute_async_script(AXE_CONTRAST, control)
        ]
        browser.execute_script("arguments[0].blur()", control)
        checked += 1
    assert checked, "no control found"
    assert not problems, "\n".join(problems)
