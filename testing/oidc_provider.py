"""A real OpenID Provider for the sign-in tests: the npm package ``oidc-provider`` (OpenID Certified).

Why a real one: sign-in is a protocol with many ways to be subtly wrong (PKCE, nonce, ``at_hash``,
issuer checks, single-use codes, client authentication); a hand-written provider would only agree
with our own reading of it. ``oidc-provider`` is installed once into a cache outside the repository
(``~/.cache/gateward-test/oidc-provider``, or ``$GATEWARD_TEST_CACHE/oidc-provider``) with npm, and
``testing/oidc_provider.mjs`` (our configuration of it: a static client, accounts with a ``groups``
claim, its development login forms) runs under node on a free 127.0.0.1 port.

:meth:`OidcProvider.browser_login` plays the person's browser at the provider: it follows the
authorization redirect, fills oidc-provider's development login form (any password) and its
consent form, and returns the URL the provider sends the browser back to (our callback), without
following it, so the test hands it to the app under test.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson

PINNED = "oidc-provider@9"  # the major version the configuration in oidc_provider.mjs is written for
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")


def cache_dir() -> Path:
    base = os.environ.get("GATEWARD_TEST_CACHE") or str(Path.home() / ".cache" / "gateward-test")
    return Path(base) / "oidc-provider"


def ensure_installed() -> Path | None:
    """The directory holding ``node_modules/oidc-provider`` (installed on first use), or ``None``
    when node or npm is not on this machine."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:  # xdist workers: one installs, the others wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "node_modules" / "oidc-provider" / "package.json").is_file():
            (root / "package.json").write_text('{"private": true}\n')
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", PINNED],
                           cwd=root, check=True, timeout=300, capture_output=True)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OidcProvider:
    """One running provider. ``clients``: oidc-provider client metadata; ``accounts``: account id →
    ``{"groups": [...]}`` (``groups`` omitted: the account has no groups claim)."""

    clients: list[dict[str, Any]]
    accounts: dict[str, dict[str, Any]]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: list[str] = field(default_factory=list)
    accounts_file: Path | None = None
    public_port: int | None = None  # the issuer's port when a proxy stands in front (testing/faulty_http.py)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.public_port or self.port}"

    @property
    def upstream(self) -> str:
        """Where the provider itself listens (the issuer, unless a proxy stands in front)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, root: Path, timeout_s: float = 30.0) -> OidcProvider:
        script = root / "gateward_oidc_provider.mjs"  # beside node_modules, so the ESM import resolves
        tmp = root / f".gateward_oidc_provider.{os.getpid()}.{self.port}.mjs"
        shutil.copyfile(SCRIPT, tmp)
        os.replace(tmp, script)  # atomic: another worker starting its provider never reads half a file
        self.accounts_file = root / f".gateward_oidc_accounts.{os.getpid()}.{self.port}.json"
        self._write_accounts()
        env = {**os.environ, "OIDC_ISSUER": self.issuer, "OIDC_PORT": str(self.port),
               "OIDC_CLIENTS": orjson.dumps(self.clients).decode(),
               "OIDC_ACCOUNTS_FILE": str(self.accounts_file)}
        self.proc = subprocess.Popen(["node", str(script)], cwd=root, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                self.log.append(line)
                if line == "READY":
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("oidc-provider did not start:\n" + "\n".join(self.log[-30:]))
        return self

    def _write_accounts(self) -> None:
        assert self.accounts_file is not None, "start() names the file"
        tmp = self.accounts_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.accounts))
        os.replace(tmp, self.accounts_file)  # the provider never reads half a file

    def set_groups(self, account: str, groups: list[str] | None) -> None:
        """Change ``account``'s groups at the provider (``None``: no groups claim), as an administrator
        of the identity provider would; the provider says so at the account's next sign-in."""
        entry = dict(self.accounts[account])
        if groups is None:
            entry.pop("groups", None)
        else:
            entry["groups"] = list(groups)
        self.accounts[account] = entry
        self._write_accounts()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.accounts_file is not None:
            self.accounts_file.unlink(missing_ok=True)

    def browser_login(self, authorize_url: str, account: str, redirect_prefix: str,
                      *, max_steps: int = 20, abort: bool = False) -> str:
        """Sign ``account`` in at the provider as a browser would; the URL the provider redirects
        to under ``redirect_prefix`` (the relying party's callback, with code and state). With
        ``abort``, the person cancels at the login form (the development pages' abort link)."""
        with httpx.Client(timeout=10) as browser:
            resp = browser.get(authorize_url)
            for _ in range(max_steps):
                if resp.is_redirect:
                    target = urljoin(str(resp.url), resp.headers["location"])
                    if target.startswith(redirect_prefix):
                        return target
                    resp = browser.get(target)
                    continue
                if resp.status_code != 200:
                    raise RuntimeError(f"the provider answered {resp.status_code}: {resp.text[:500]}")
                prompt = re.search(r'name="prompt" value="(\w+)"', resp.text)
                action = re.search(r'<form[^>]*action="([^"]+)"', resp.text)
                if prompt is None or action is None:
                    raise RuntimeError(f"no login or consent form at {resp.url}: {resp.text[:500]}")
                form = {"prompt": prompt.group(1)}
                if abort:
                    resp = browser.get(urljoin(str(resp.url), action.group(1).rstrip("/") + "/abort"))
                    continue
                if form["prompt"] == "login":
                    form.update(login=account, password="any")
                resp = browser.post(urljoin(str(resp.url), action.group(1)), data=form)
        raise RuntimeError("the provider never redirected back")


@contextlib.contextmanager
def running_provider(clients: list[dict[str, Any]], accounts: dict[str, dict[str, Any]],
                     root: Path) -> Iterator[OidcProvider]:
    """A provider started for the duration of the block."""
    op = OidcProvider(clients, accounts).start(root)
    try:
        yield op
    finally:
        op.stop()
