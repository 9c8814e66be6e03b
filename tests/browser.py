"""A headless Chromium driven over the DevTools protocol, for tests of the HTML report.

Start it with ``Browser.start()`` (it skips the test when Chromium or websocket-client is
missing), open a page, evaluate JavaScript, type, take screenshots, and see every network request
the page made (``requests``) and every JavaScript dialog it tried to open (``dialogs``).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")

# Flags that keep a test browser quiet: no first-run UI, no background fetches of its own
# (component updates, sync, safe-browsing lists), so that any request seen is the page's.
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


def chromium_path() -> str | None:
    """The Chromium binary on PATH, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One Chromium process with one page target, spoken to over a websocket."""

    def __init__(self, process: subprocess.Popen[bytes], profile: str, ws: Any) -> None:
        self._process = process
        self._profile = profile
        self._ws = ws
        self._ids = itertools.count(1)
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self._events: list[dict[str, Any]] = []

    @classmethod
    def start(cls, width: int = 1000, height: int = 800) -> Browser:
        """Start Chromium headless with a fresh profile; skip the test when it cannot run."""
        websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")
        binary = chromium_path()
        if binary is None:
            pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
        profile = tempfile.mkdtemp(prefix="contactguard-chromium-")
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            port = _devtools_port(Path(profile), process)
            target = _page_target(port)
            ws = websocket.create_connection(target, timeout=30, suppress_origin=True)
        except BaseException:
            process.kill()
            process.wait()
            shutil.rmtree(profile, ignore_errors=True)
            raise
        browser = cls(process, profile, ws)
        for method in ("Page.enable", "Network.enable", "Runtime.enable"):
            browser.send(method)
        browser.send("Emulation.setDeviceMetricsOverride",
                     width=width, height=height, deviceScaleFactor=1, mobile=False)
        return browser

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events that arrive meanwhile are kept)."""
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})  # type: ignore[no-any-return]

    def open(self, url: str) -> None:
        """Navigate and wait until the page has loaded."""
        self._events.clear()
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            self._receive()

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def type(self, selector: str, text: str) -> None:
        """Focus an element and type text into it as keyboard input."""
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)

    def screenshot(self, path: Path, *, full_height: int | None = None) -> None:
        """Save a PNG of the page (optionally resized to show ``full_height`` CSS pixels)."""
        params: dict[str, Any] = {"format": "png"}
        if full_height is not None:
            width = self.eval("document.documentElement.clientWidth")
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": full_height, "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))

    def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self._ws.recv())
        method = message.get("method")
        if method == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(message["params"]["message"])
            # answer it, or the page would hang on the dialog
            self._ws.send(json.dumps({"id": next(self._ids),
                                      "method": "Page.handleJavaScriptDialog",
                                      "params": {"accept": False}}))
        if method:
            self._events.append(message)
        return message


def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """Chromium writes the port it chose for --remote-debugging-port=0 to DevToolsActivePort."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with status {process.returncode}")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        time.sleep(0.05)
    raise TimeoutError("chromium did not open its DevTools port")


def _page_target(port: int) -> str:
    """The websocket URL of the browser's first page target (loopback only)."""
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = json.load(r)
            for target in targets:
                if target.get("type") == "page":
                    return str(target["webSocketDebuggerUrl"])
        time.sleep(0.05)
    raise TimeoutError("chromium showed no page target")
