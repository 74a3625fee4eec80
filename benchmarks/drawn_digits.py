"""How well the Draw a digit page reads digits drawn with a pointer, in a real browser.

Each digit is drawn from stroke templates (a closed and an open 4, a plain and a crossed 7, a
plain and a serif 1, a round and a Z-like 2, ...), each template in several styles: normal, small,
large, slanted either way and off-centre. The strokes go through Chromium's pointer events into
the page's drawing box, exactly as a mouse would draw them; the page prepares the drawing as MNIST
prepared its digits and runs the committed model. Prints accuracy per digit and per style, and how
often the page said "unsure"; run by hand:

    python benchmarks/drawn_digits.py [--weights FILE]

--weights: another run's `python -m mnist.export` file for the page to run instead of the
committed model (it is passed to the site build as $BACKPROP_DRAW_WEIGHTS, sitegen/page_draw.py).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from page_speed import ROOT, served

PAD = 280


def arc(cx, cy, rx, ry, start, end, n=18):
    """Points of an ellipse arc, angles in degrees (0 = right, 90 = down)."""
    angles = np.radians(np.linspace(start, end, n))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


# Strokes in a unit box (x right, y down): each template a list of strokes, each a point list.
TEMPLATES = {
    0: {"oval": [arc(0.5, 0.5, 0.3, 0.45, -90, 275)]},
    1: {
        "plain": [[(0.5, 0.05), (0.5, 0.95)]],
        "serif": [[(0.3, 0.2), (0.5, 0.05), (0.5, 0.95)], [(0.3, 0.95), (0.7, 0.95)]],
    },
    2: {
        "round": [[*arc(0.5, 0.3, 0.3, 0.25, 180, 360), (0.75, 0.45), (0.2, 0.95), (0.85, 0.95)]],
        "z-like": [[(0.2, 0.1), (0.8, 0.1), (0.2, 0.95), (0.85, 0.95)], [(0.3, 0.55), (0.7, 0.5)]],
    },
    3: {"arcs": [arc(0.45, 0.28, 0.3, 0.23, 200, 450) + arc(0.45, 0.72, 0.33, 0.23, -90, 160)]},
    4: {
        "open": [[(0.55, 0.05), (0.15, 0.6), (0.85, 0.6)], [(0.65, 0.3), (0.65, 0.95)]],
        "closed": [[(0.65, 0.95), (0.65, 0.05), (0.15, 0.6), (0.85, 0.6)]],
    },
    5: {"hook": [[(0.8, 0.05), (0.3, 0.05), (0.25, 0.45), *arc(0.5, 0.67, 0.32, 0.28, -130, 150)]]},
    6: {"loop": [[(0.7, 0.05), *arc(0.5, 0.68, 0.3, 0.27, 200, 560)]]},
    7: {
        "plain": [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]],
        "crossed": [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)], [(0.35, 0.5), (0.8, 0.5)]],
    },
    8: {"eight": [arc(0.5, 0.27, 0.25, 0.22, 90, 450) + arc(0.5, 0.72, 0.3, 0.24, -90, 270)]},
    9: {"loop": [[*arc(0.5, 0.3, 0.28, 0.25, 0, 360), (0.78, 0.3), (0.72, 0.95)]]},
}


def style(points, name: str):
    """The unit-box points placed in the 280-pixel pad as `name` draws them."""
    scale, shear, dx, dy = {
        "normal": (0.7, 0.0, 0.0, 0.0),
        "small": (0.35, 0.0, 0.0, 0.0),
        "large": (0.92, 0.0, 0.0, 0.0),
        "slant right": (0.7, -0.3, 0.0, 0.0),
        "slant left": (0.7, 0.25, 0.0, 0.0),
        "off-centre": (0.45, 0.0, -0.25, -0.25),
    }[name]
    placed = []
    for x, y in points:
        u, v = (x - 0.5) + shear * (y - 0.5), y - 0.5
        placed.append((PAD / 2 + PAD * (scale * u + dx), PAD / 2 + PAD * (scale * v + dy)))
    return placed


STYLES = ("normal", "small", "large", "slant right", "slant left", "off-centre")


def draw(driver, canvas, strokes) -> None:
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    pointer = PointerInput(interaction.POINTER_MOUSE, "mouse")
    actions = ActionBuilder(driver, mouse=pointer, duration=0)
    half = canvas.rect["width"] / 2
    for points in strokes:
        x, y = points[0]
        actions.pointer_action.move_to(canvas, int(x - half), int(y - half)).pointer_down()
        for x, y in points[1:]:
            actions.pointer_action.move_to(canvas, int(x - half), int(y - half))
        actions.pointer_action.pointer_up()
    actions.perform()


def main() -> None:
    from selenium import webdriver

    from sitegen.page_draw import WEIGHTS_ENV

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="exported weights (default: the committed)")
    weights = parser.parse_args().weights
    env = os.environ | ({WEIGHTS_ENV: str(weights.resolve())} if weights else {})
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
        subprocess.run(build, cwd=ROOT, check=True, capture_output=True, env=env)
        httpd = served(site)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--window-size=1280,1000"):
            options.add_argument(flag)
        driver = webdriver.Chrome(
            options=options, service=webdriver.ChromeService("/usr/bin/chromedriver")
        )
        try:
            driver.get(f"http://127.0.0.1:{httpd.server_address[1]}/draw/")
            while not driver.execute_script("return window.drawDigit && window.drawDigit.ready"):
                pass
            canvas = driver.find_element("id", "draw-canvas")
            clear = driver.find_element("id", "draw-clear")
            results = []
            for digit, templates in TEMPLATES.items():
                for template, strokes in templates.items():
                    for name in STYLES:
                        clear.click()
                        draw(driver, canvas, [style(points, name) for points in strokes])
                        p = driver.execute_script("return window.drawDigit.probabilities")
                        unsure = driver.execute_script("return window.drawDigit.unsure")
                        results.append((digit, template, name, int(np.argmax(p)), bool(unsure)))
        finally:
            driver.quit()
            httpd.shutdown()
    print(f"weights: {weights or 'the committed model'}")
    report(results)


def report(results) -> None:
    right = sum(d == read for d, _, _, read, _ in results)
    print(f"{right} of {len(results)} drawn digits read right ({100 * right / len(results):.0f}%),")
    unsure = sum(u for *_, u in results)
    print(f"'unsure' on {unsure}; wrong and not flagged unsure: "
          f"{sum(d != read and not u for d, _, _, read, u in results)}\n")  # fmt: skip
    by = defaultdict(list)
    for digit, template, name, read, _ in results:
        by[f"{digit} {template}"].append((name, read, read == digit))
    print("| digit, template | " + " | ".join(STYLES) + " |")
    print("|---|" + "---|" * len(STYLES))
    for key, cells in by.items():
        print(
            f"| {key} | " + " | ".join(str(r) + ("" if ok else " ✗") for _, r, ok in cells) + " |"
        )
    print("\n| style | right |\n|---|---:|")
    for name in STYLES:
        hits = [d == r for d, _, s, r, _ in results if s == name]
        print(f"| {name} | {sum(hits)} of {len(hits)} |")


if __name__ == "__main__":
    main()
