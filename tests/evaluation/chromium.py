"""A real headless Chromium for the HTML report tests, driven over the DevTools protocol on a pipe.

``--remote-debugging-pipe`` makes Chromium read protocol commands from file descriptor 3 and write
replies and events to descriptor 4, each message JSON ended by a NUL byte; so no websocket
library, no browser download and no network port are needed, only Debian's ``chromium`` package
(``apt-get install -y chromium``, installed by ``.ci/run``).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--window-size=1280,1600", "--remote-debugging-pipe")
MISSING = "no Chromium installed (Debian: apt-get install -y chromium, as .ci/run does)"


def chromium_binary() -> str | None:
    """Debian's /usr/bin/chromium, else a chromium on PATH; None when there is none."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


class Chromium:
    """One headless browser with one page; events are kept in :attr:`events` as they arrive."""

    def __init__(self, profile: Path, timeout: float = 20.0) -> None:
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError(MISSING)
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._buffer = b""
        command_read, self._command_write = _high_pipe()
        self._reply_read, reply_write = _high_pipe()

        def child_pipes() -> None:  # Chromium reads commands on fd 3 and writes replies on fd 4
            os.dup2(command_read, 3)
            os.dup2(reply_write, 4)

        self.process = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, close_fds=False, preexec_fn=child_pipes)
        os.close(command_read)
        os.close(reply_write)
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=True)

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = False) -> dict[str, Any]:
        """Send one command and wait for its reply (protocol errors raise)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._command_write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_for(self, method: str, after: int = 0) -> dict[str, Any]:
        """The first event named `method` from the `after`-th event on (already received or next to come)."""
        for event in self.events[after:]:
            if event.get("method") == method:
                return event
        while True:
            self._receive()
            if self.events and self.events[-1].get("method") == method:
                return self.events[-1]

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its value (JSON-able)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        """A real left click at viewport coordinates (pressed, then released)."""
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
                      session=True)

    def screenshot(self, target: Path) -> Path:
        """Save the whole page as PNG."""
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
        target.write_bytes(base64.b64decode(data["data"]))
        return target

    def close(self) -> None:
        """Ask the browser to quit; kill it if it does not."""
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._command_write)
        os.close(self._reply_read)

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._reply_read], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError(f"Chromium sent nothing for {self.timeout} s")
            chunk = os.read(self._reply_read, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(raw)
        if "method" in message:
            self.events.append(message)
        return message


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends sit above descriptor 9, so that dup2 onto 3 and 4 never clobbers them."""
    read, write = os.pipe()
    high = (fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(write, fcntl.F_DUPFD_CLOEXEC, 10))
    os.close(read)
    os.close(write)
    return high


def page_problems(browser: Chromium) -> list[str]:
    """Console errors, uncaught exceptions and any request that left the file (all must be absent)."""
    problems = []
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            problems.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            problems.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            problems.append(f"log error: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "about:")):
                problems.append(f"fetched {url}")
    return problems


def open_page(browser: Chromium, path: Path) -> None:
    """Load a local file and wait for its load event."""
    start = len(browser.events)
    browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
    browser.wait_for("Page.loadEventFired", after=start)


def click_header(browser: Chromium, table_id: str, column: int) -> None:
    """Scroll a table's header cell into view and click it like a person would."""
    box = browser.evaluate(f"(() => {{ const th = document.querySelectorAll('#{table_id} thead th')[{column}];"
                           "th.scrollIntoView({block: 'center'}); const r = th.getBoundingClientRect();"
                           "return [r.left + r.width / 2, r.top + r.height / 2]; })()")
    browser.click(*box)


def column_values(browser: Chromium, table_id: str, column: int) -> list[str]:
    """The texts of one column of a table's body, in the order shown."""
    return browser.evaluate(f"Array.from(document.querySelectorAll('#{table_id} tbody tr'))"
                            f".map(r => r.cells[{column}].textContent.trim())")
