"""Fixtures shared by test files: the documentation site, built once per session."""

from __future__ import annotations

import base64
import functools
import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"  # screenshots (git-ignored)
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SITE_ENV = ("BACKPROP_CONFIG", "BACKPROP_MNIST_RUN")


def pytest_xdist_auto_num_workers(config) -> int | None:
    """`-n auto` (pyproject's addopts): one process more than the cores this one may use, at most
    --maxprocesses. The tests wait part of the time (on subprocesses starting, on Chromium, on
    timed waits): on the 2-core CI machine the suite took 635 s on 2 processes, 554 s on 3."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) + 1


@pytest.fixture(scope="session", autouse=True)
def no_program_cache():
    """`derive gradients` derives its program afresh in every test: none reads or writes the user's
    ~/.cache or depends on what an earlier run left there (tests/test_program_cache.py turns the
    cache on, in a folder of its own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BACKPROP_NO_CACHE", "1")
        yield


def run_mkdocs(site_dir: Path, env: dict[str, str] | None = None, cwd: Path = ROOT):
    """`mkdocs build --strict` of the mkdocs.yml in `cwd` into site_dir; the finished process."""
    environment = {k: v for k, v in os.environ.items() if k not in SITE_ENV}
    environment.update({"NO_MKDOCS_2_WARNING": "1", **(env or {})})
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)]
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def build_site(site_dir: Path, env: dict[str, str] | None = None) -> Path:
    """Build the site and return its folder; fail with MkDocs' own output otherwise."""
    done = run_mkdocs(site_dir, env)
    if done.returncode != 0:
        raise AssertionError(f"mkdocs build failed ({done.returncode}):\n{done.stderr}")
    return site_dir


@pytest.fixture(scope="session")
def shared_site(tmp_path_factory, worker_id):
    """shared_site(name, prepare): a site built once per test session, its folder NAME/site.
    prepare(NAME) writes what the build reads there and returns the build's environment. Under
    pytest-xdist the first worker that asks builds it in the folder the workers share while the
    others wait on a lock, then read it (the tests only read a site; a build is about 25 s of a
    2-core machine)."""

    def build(name: str, prepare=lambda folder: {}) -> Path:
        if worker_id == "master":  # one process (-n 0)
            folder = tmp_path_factory.mktemp(name)
            return build_site(folder / "site", prepare(folder))
        shared = tmp_path_factory.getbasetemp().parent  # this session's, made afresh for each run
        folder, built = shared / name, shared / f"{name}.built"
        with FileLock(str(shared / f"{name}.lock")):
            if not built.exists():  # a failed build leaves no mark: the next worker says why again
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                build_site(folder / "site", prepare(folder))
                built.touch()
        return folder / "site"

    return build


@pytest.fixture(scope="session")
def site_dir(shared_site) -> Path:
    """The documentation site for the classic network, built once per test session."""
    return shared_site("classic")


@pytest.fixture(scope="session")
def mkdocs_build():
    """build_site(site_dir, env) for tests that build with other settings."""
    return build_site


@pytest.fixture(scope="session")
def mkdocs_run():
    """run_mkdocs(site_dir, env, cwd) for tests that expect a build to fail."""
    return run_mkdocs


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the test reads the browser's log instead
        pass


@pytest.fixture(scope="session")
def server(site_dir):
    """The built site on an http://127.0.0.1 port of its own."""
    handler = functools.partial(QuietHandler, directory=str(site_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def screenshot(browser):
    """screenshot(name): the browser's whole page (not only the window) as test-artifacts/NAME."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(name: str) -> Path:
        size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = browser.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    return save


def skip_or_fail_in_ci(reason: str) -> None:
    """Skip where a tool is missing on a developer's machine; CI (.ci/run) installs it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run should have installed it")
    pytest.skip(reason)


def fail_skips_in_ci(report):
    """In CI (the CI variable set, as .ci/run and CI services set it) a skip is a failure: a check
    that did not run is not a check that passed."""
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {reason}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    return fail_skips_in_ci((yield))


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    return fail_skips_in_ci((yield))


@pytest.fixture(scope="session")
def node() -> str:
    """The Node.js executable (npm ci needs it too); a missing one skips, or fails in CI."""
    path = shutil.which("node")
    if path is None:
        skip_or_fail_in_ci("needs Node.js (the project's npm ci needs it too)")
    return path


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium under Selenium, logging every network request and console line."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        skip_or_fail_in_ci(
            "needs Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver)"
        )
    from selenium import webdriver  # the test extra

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(CHROMEDRIVER)))
    driver.set_script_timeout(30)
    driver.get("about:blank")
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def default_signals():
    """SIGTERM, SIGHUP and SIGINT as a program started from a terminal has them, in this process
    and in the children it starts. Under nohup SIGHUP arrives ignored, and a script's background
    job has SIGINT ignored; derive and mnist rightly leave an ignored signal alone, so a test
    that sends one would only see that (and pass or fail with how its run was started)."""
    ending = (signal.SIGTERM, signal.SIGHUP)
    saved = {signum: signal.getsignal(signum) for signum in (*ending, signal.SIGINT)}
    for signum in ending:
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
