"""Browser tests: Debian's headless Chromium driven by Selenium through Debian's chromedriver,
against a real ``gateward run`` server on a free loopback port.

Setup is part of the suite: if ``/usr/bin/chromium`` or ``/usr/bin/chromedriver`` is missing
and we run as root, ``apt-get install -y chromium chromium-driver`` installs them (no browser
download of a test tool's own). When they cannot be had, the tests FAIL under
``GATEWARD_REQUIRE_SERVICES=1`` (CI) and are skipped otherwise. Screenshots are saved under
``$GATEWARD_ARTIFACTS_DIR/browser`` (default ``var/artifacts/browser``) as test artefacts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from testing.servers import GatewardRun
from tests.conftest import build_test_runtime

REQUIRE = os.environ.get("GATEWARD_REQUIRE_SERVICES") == "1"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GATEWARD_ARTIFACTS_DIR", ROOT / "var" / "artifacts")) / "browser"
USERS = ("alice", "bob", "carol", "erin")


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def _ensure_browser() -> None:
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        _unavailable("Debian chromium + chromium-driver are not installed and we cannot apt-get them (not root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Another apt-get (a machine still provisioning itself, or another worker) may hold dpkg's lock:
    # wait for it (up to 10 minutes) rather than failing every browser test of the run.
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    for cmd in (["apt-get", *lock, "update", "-qq"],
                ["apt-get", *lock, "install", "-y", "-qq", "chromium", "chromium-driver"]):
        for _attempt in range(60):
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
            if res.returncode == 0 or "Could not get lock" not in res.stderr:
                break
            time.sleep(10)
        if res.returncode != 0:
            _unavailable(f"`{' '.join(cmd)}` failed: {res.stderr.strip()[-400:]}")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        _unavailable("apt-get ran but /usr/bin/chromium or /usr/bin/chromedriver is still missing")


@dataclass
class Server:
    base: str
    tokens: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    def api(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.tokens[user]}"}, timeout=60)


@pytest.fixture(scope="session")
def browser_ready() -> None:
    _ensure_browser()
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("the selenium package is not installed (dev extra)")


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server: the fleet is seeded here, then ``gateward run`` serves it."""
    from core.users import issue_token

    home = tmp_path_factory.mktemp("browser-home")
    url = f"sqlite:///{home / 'gateward.db'}"
    rt = build_test_runtime(url, homes=40)
    tokens = {u: issue_token(rt.store, u) for u in USERS}
    rt.close()
    with GatewardRun(home=home, database_url=url, homes=40, cwd=ROOT) as run:
        yield Server(base=run.base, tokens=tokens, proc=run.proc, log=run.log)


class Browser:
    """One signed-in headless Chromium (its own profile, so its own localStorage)."""

    def __init__(self, server: Server, user: str, name: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        self.server, self.user, self.name = server, user, name
        self.profile = tempfile.mkdtemp(prefix=f"gw-chromium-{user}-")
        opts = Options()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-dev-shm-usage", "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--disable-quic", "--window-size=1440,1000", f"--user-data-dir={self.profile}"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.driver.set_page_load_timeout(30)

    def sign_in(self, hash_: str = "") -> None:
        d = self.driver
        d.get(self.server.base + "/")
        d.execute_script("localStorage.setItem('gateward.token', arguments[0])", self.server.tokens[self.user])
        d.get(f"{self.server.base}/{hash_}")
        d.refresh()
        self.wait_css("[data-testid=whoami]", lambda el: el.text.startswith(self.user))
        # Toasts leave after 4 s: every one is kept, so that a wait that times out can say what
        # the page told the person (a refused request says itself in a toast, not the console).
        d.execute_script("""
            window.__seenToasts = [];
            new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes)
              if (n.classList?.contains('toast')) window.__seenToasts.push(n.textContent); })
              .observe(document.getElementById('toasts'), {childList: true});""")

    def go(self, hash_: str) -> None:
        self.driver.execute_script("location.hash = arguments[0]", hash_)

    def wait(self, cond: Callable[[Any], Any], timeout: float = 40, what: str = "") -> Any:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(cond)
        except TimeoutException:
            self.shot(f"TIMEOUT-{what or 'wait'}")
            raise AssertionError(f"[{self.name}] timed out waiting for {what}; console log: "
                                 f"{self.console_errors()}; toasts: {self.toasts_seen()}; "
                                 f"the server's log ends: {self.server_log_tail()}") from None

    def wait_css(self, css: str, pred: Callable[[Any], bool] | None = None, timeout: float = 40) -> Any:
        from selenium.webdriver.common.by import By

        def cond(d: Any) -> Any:
            for el in d.find_elements(By.CSS_SELECTOR, css):
                try:
                    if el.is_displayed() and (pred is None or pred(el)):
                        return el
                except Exception:  # stale while the view re-renders: try again
                    continue
            return False

        return self.wait(cond, timeout, what=css)

    def click(self, css: str, pred: Callable[[Any], bool] | None = None, timeout: float = 40) -> None:
        """Click the first displayed match, finding it again if the view re-rendered it between the
        find and the click (live pages rebuild their panels as the server's state moves)."""
        from selenium.common.exceptions import StaleElementReferenceException

        deadline = time.monotonic() + timeout
        while True:
            el = self.wait_css(css, pred, timeout=max(1.0, deadline - time.monotonic()))
            try:
                el.click()
                return
            except StaleElementReferenceException:
                if time.monotonic() > deadline:
                    raise

    def text(self, css: str, pred: Callable[[Any], bool] | None = None, timeout: float = 40) -> str:
        """The text of the first displayed match, found again if a live view re-rendered it between
        the find and the read (as :meth:`click`)."""
        from selenium.common.exceptions import StaleElementReferenceException

        deadline = time.monotonic() + timeout
        while True:
            el = self.wait_css(css, pred, timeout=max(1.0, deadline - time.monotonic()))
            try:
                return str(el.text)
            except StaleElementReferenceException:
                if time.monotonic() > deadline:
                    raise

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.driver.save_screenshot(str(path))
        return path

    def toasts_seen(self) -> list[str]:
        """Every toast since :meth:`sign_in` (the page's own words for what it refused)."""
        try:
            return list(self.driver.execute_script("return window.__seenToasts || []"))
        except Exception:
            return []

    def server_log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.server.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def console_errors(self) -> list[str]:
        try:
            return [e["message"] for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]
        except Exception:
            return []

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


def browsers_on(server: Server) -> Iterator[Callable[[str, str], Browser]]:
    """An opener of browsers signed in to ``server``, each closed afterwards: the body of every
    module's ``browser`` fixture (``yield from browsers_on(its_server)``)."""
    opened: list[Browser] = []

    def open_(user: str, name: str) -> Browser:
        b = Browser(server, user, name)
        opened.append(b)
        return b

    yield open_
    for b in opened:
        b.close()


@pytest.fixture
def browser(server: Server) -> Iterator[Callable[[str, str], Browser]]:
    yield from browsers_on(server)


@pytest.fixture(scope="module")
def admin(server: Server) -> Server:
    """The module's server with dave (admin) signing in too: the shared fixture issues tokens for the
    other demo users."""
    from core.store.db import Store
    from core.users import issue_token

    if "dave" not in server.tokens:
        store = Store(f"sqlite:///{server.log.parent / 'gateward.db'}", migrate=False)
        server.tokens["dave"] = issue_token(store, "dave")
        store.engine.dispose()
    return server
