"""A headless Chromium driven over the DevTools protocol, for tests (imported as ``chromium``).

The protocol runs over ``--remote-debugging-pipe``: Chromium reads commands from file descriptor
3 and writes answers and events to 4, one JSON message each, ending with NUL. No websocket, no
port, nothing but the standard library; every wait has a deadline.

Client certificates: Chromium on Linux reads them from the NSS database under ``$HOME/.pki``
(``nss_database``) and presents one without asking only where the ``AutoSelectCertificateForUrls``
policy says so. Chromium reads policies only from ``/etc/chromium/policies/managed`` (no flag or
profile setting replaces it), so ``auto_select_policy`` writes a file there and removes it.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import time

POLICY_DIRECTORY = "/etc/chromium/policies/managed"
REQUIRE_ENV = "KEYSTONE_LITE_REQUIRE_CHROMIUM"
STEP_TIMEOUT = 20.0  # one protocol command, or one page load


class BrowserError(Exception):
    """Chromium failed, answered an error, or was too slow; the message says which."""


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for tool in ("chromium", "certutil", "pk12util"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian packages chromium, libnss3-tools)"
    existing = POLICY_DIRECTORY
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK):
        return f"needs to write Chromium's policy directory {POLICY_DIRECTORY} (run as root)"
    return None


def nss_database(home: str, ca_certificate: str, pkcs12_file: str | None) -> None:
    """``$HOME/.pki/nssdb`` with the CA trusted for servers and the client certificate and key
    of ``pkcs12_file`` (no password; None: no certificate of its own)."""
    database = f"sql:{home}/.pki/nssdb"
    os.makedirs(f"{home}/.pki/nssdb", exist_ok=True)
    for argv in (["certutil", "-d", database, "-N", "--empty-password"],
                 ["certutil", "-d", database, "-A", "-t", "CT,C,C", "-n", "keystone-lite CA",
                  "-i", ca_certificate],
                 *([["pk12util", "-d", database, "-i", pkcs12_file, "-W", ""]]
                   if pkcs12_file else [])):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                env={**os.environ, "HOME": home}, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise BrowserError(f"{' '.join(argv)}: {result.stdout}{result.stderr}")


@contextlib.contextmanager
def auto_select_policy(name: str, origin: str):
    """A managed policy file letting Chromium present a certificate to ``origin`` (a content
    settings pattern: ``https://127.0.0.1:*``) unasked (any certificate it holds: the test's NSS
    database holds one); removed afterwards."""
    path = os.path.join(POLICY_DIRECTORY, f"{name}.json")
    created = [directory for directory in ("/etc/chromium", "/etc/chromium/policies",
                                           POLICY_DIRECTORY) if not os.path.isdir(directory)]
    os.makedirs(POLICY_DIRECTORY, exist_ok=True)
    rule = json.dumps({"pattern": origin, "filter": {}})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"AutoSelectCertificateForUrls": [rule]}, handle)
    try:
        yield path
    finally:
        os.remove(path)
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


class Browser:
    """One headless Chromium with one tab (``session``), started by ``open``."""

    def __init__(self, home: str, log_path: str):
        self._read, child_write = os.pipe()
        child_read, self._write = os.pipe()
        # The child finds its ends at 3 (commands) and 4 (answers), as Chromium expects.
        os.set_inheritable(child_read, True)
        os.set_inheritable(child_write, True)
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", f"--user-data-dir={home}/profile", "--no-first-run",
             "--window-size=1100,1000", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "about:blank"],
            env={**os.environ, "HOME": home}, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, pass_fds=(3, 4),
            preexec_fn=lambda: (os.dup2(child_read, 3), os.dup2(child_write, 4)))
        os.close(child_read)
        os.close(child_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        self.session = None

    def open(self) -> None:
        """A tab of its own, attached in flat mode (its commands carry ``sessionId``)."""
        target = self.command("Target.createTarget", {"url": "about:blank"}, session=False)
        self.session = self.command("Target.attachToTarget", {
            "targetId": target["targetId"], "flatten": True}, session=False)["sessionId"]
        self.command("Page.enable")

    def command(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._receive(f"the answer to {method}")
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer["result"]
            self._events.append(answer)

    def navigate(self, url: str) -> None:
        """Go to ``url`` and wait for its load event."""
        self._events.clear()
        started = self.command("Page.navigate", {"url": url})
        if started.get("errorText"):
            raise BrowserError(f"{url}: {started['errorText']}")
        self.wait_for_load(url, started.get("loaderId"))

    def wait_for_load(self, what: str, loader_id: str | None = None) -> None:
        """Wait for the tab's next document (its main frame navigated, by ``loader_id`` when
        known) to fire its load event. The tab's first about:blank may still be reporting."""
        navigated = False
        while True:
            for event in self._events:
                method = event.get("method")
                frame = event.get("params", {}).get("frame", {})
                if method == "Page.frameNavigated" and "parentId" not in frame \
                        and frame.get("url") != "about:blank" \
                        and loader_id in (None, frame.get("loaderId")):
                    navigated = True
                elif method == "Page.loadEventFired" and navigated:
                    self._events.clear()
                    return
            self._events = [self._receive(
                f"the page {what} to load (a server asking for a client certificate that "
                f"Chromium does not choose by itself waits for a person: see "
                f"{POLICY_DIRECTORY})")]

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (DevTools runs it whatever the
        page's Content-Security-Policy says; the page itself runs no script)."""
        result = self.command("Runtime.evaluate", {"expression": expression,
                                                   "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click_and_wait(self, selector: str) -> None:
        """Click the element (a real click event: forms submit as for a person) and wait for
        the page it leads to."""
        self._events.clear()
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        self.wait_for_load(f"after clicking {selector}")

    def screenshot(self, path: str) -> None:
        data = self.command("Page.captureScreenshot", {"format": "png",
                                                       "captureBeyondViewport": True})["data"]
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))

    def _receive(self, waiting_for: str) -> dict:
        deadline = time.monotonic() + STEP_TIMEOUT
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"Chromium: no {waiting_for} within {STEP_TIMEOUT} s")
            ready, _, _ = select.select([self._read], [], [], remaining)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium exited while waiting for {waiting_for}")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            os.write(self._write, json.dumps({"id": 0, "method": "Browser.close"}).encode()
                     + b"\0")
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()
