"""Milliseconds for what the site's pages compute while a reader watches, against one 60 Hz frame.

- Playground, node: the printed JavaScript module's `descend` for the classic network, 6 learning
  rates x MAX_STEPS (10,000) steps (the page's largest update) in Node.js, 21 updates after 10
  warm-ups: the arithmetic alone;
- Playground, chromium: the site built with `mkdocs build`, served on 127.0.0.1, and w5's slider
  dragged over 30 positions in headless Debian Chromium at MAX_STEPS steps; each position recomputes
  the 6 runs and redraws diagram, chart and table (the page's own window.playgroundTimings);
- Draw a digit, chromium: one forward pass of the default MNIST model, and one forward and
  backward pass, the means of the page's own timing runs (window.drawDigit.forwardMs and
  backwardMeanMs), in --loads fresh page loads.
Target (issues 10 and 15): the best under 16 ms, so a drag follows the pointer and a digit is
recognised as it is drawn. The best is the page's own cost; the median adds what else the machine
was doing.

    python benchmarks/page_speed.py [--skip-browser] [--loads 5]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from derive.config import load_config
from derive.evaluate import evaluator_for
from derive.javascript import javascript_module
from sitegen.page_playground import MAX_STEPS

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 16.0
NODE_TIMER = """\
import { network, descend } from "./derived.mjs";
const rates = [0.1, 0.2, 0.5, 0.8, 1.0, 2.0];
const steps = STEPS;
const args = Float64Array.from(network.arguments, (name) => network.defaults[name]);
const rows = rates.map(() => new Float64Array((steps + 1) * network.rowWidth));
const update = () => rates.forEach((lr, k) => descend(Float64Array.from(args), lr, steps, rows[k]));
for (let i = 0; i < 10; i += 1) update();
const times = [];
for (let i = 0; i < 21; i += 1) {
  const start = performance.now();
  update();
  times.push(performance.now() - start);
}
console.log(JSON.stringify(times));
"""
DRAG = """\
const done = arguments[0];
const slider = document.querySelector('[data-slider-for=w5]');
const start = window.playgroundTimings.length;
let k = 0;
const move = () => {
  if (k === 30) return done(window.playgroundTimings.slice(start));
  slider.value = String(0.4 + 0.01 * k++);
  slider.dispatchEvent(new Event('input', {bubbles: true}));
  requestAnimationFrame(() => requestAnimationFrame(move));
};
move();
"""

DRAW_READY = "return window.drawDigit && window.drawDigit.ready"


def node_timings(folder: Path) -> list[float]:
    """Milliseconds of 21 updates of the printed module in Node.js."""
    config = load_config(None)
    (folder / "derived.mjs").write_text(
        javascript_module(evaluator_for(config.network), config.values)
    )
    (folder / "timer.mjs").write_text(NODE_TIMER.replace("STEPS", str(MAX_STEPS)))
    done = subprocess.run(
        ["node", "timer.mjs"], cwd=folder, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the table is this script's only output
        pass


def served(site: Path) -> http.server.ThreadingHTTPServer:
    """The built site on a free 127.0.0.1 port, served from a background thread."""
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def chromium_timings(folder: Path, loads: int) -> tuple[list[float], list[float]]:
    """Milliseconds of the Playground's 30 updates while w5's slider is dragged, and of one
    forward pass on the Draw page in each of `loads` page loads."""
    from selenium import webdriver  # the test extra
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    site = folder / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    subprocess.run(build, cwd=ROOT, env=env, check=True, capture_output=True)
    httpd = served(site)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--window-size=1280,900"):
        options.add_argument(flag)
    service = webdriver.ChromeService("/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_script_timeout(60)
        driver.get(f"http://127.0.0.1:{httpd.server_address[1]}/playground/#steps={MAX_STEPS}")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-ready]"))
        steps = driver.find_element(By.ID, "pg-steps").get_attribute("value")
        assert steps == str(MAX_STEPS), f"the page runs {steps} steps, not {MAX_STEPS}"
        updates = driver.execute_async_script(DRAG)
        forward, both = [], []
        for _ in range(loads):
            driver.get("about:blank")
            driver.get(f"http://127.0.0.1:{httpd.server_address[1]}/draw/")
            WebDriverWait(driver, 20).until(lambda d: d.execute_script(DRAW_READY))
            forward.append(driver.execute_script("return window.drawDigit.forwardMs"))
            both.append(
                driver.execute_script(
                    "return window.drawDigit.forwardMs + window.drawDigit.backwardMeanMs"
                )
            )
        return updates, forward, both
    finally:
        driver.quit()
        httpd.shutdown()


def summary(name: str, times: list[float]) -> str:
    best, median = min(times), statistics.median(times)
    verdict = "within" if best < TARGET_MS else "OVER"
    return f"| {name} | {len(times)} | {best:.1f} | {median:.1f} | {verdict} {TARGET_MS:.0f} ms |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-browser", action="store_true", help="time Node.js only")
    parser.add_argument("--loads", type=int, default=5, help="Draw page loads (default: 5)")
    args = parser.parse_args(argv)
    print("| what | runs | best ms | median ms | target |")
    print("|---|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        print(summary("Playground update, node", node_timings(Path(folder))))
        if not args.skip_browser:
            updates, forward, both = chromium_timings(Path(folder), args.loads)
            print(summary("Playground update, chromium slider drag", updates))
            print(summary("Draw a digit forward pass, chromium", forward))
            print(summary("Draw a digit forward + backward pass, chromium", both))
    print(f"\nload average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
