"""A real Xandikos server for the CardDAV contract suite: temporary storage, free port, no auth.

Xandikos offers ``sync-collection`` (RFC 6578) but leaves ``address-data`` out of its answers,
and it has no login of its own over plain HTTP (it expects a proxy in front), so its address
books are reached without credentials. It has the same set-up methods as ``RadicaleServer``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from radicale_server import _MKCOL, ServerProcess, free_port


class XandikosServer(ServerProcess):
    """``python -m xandikos serve`` on 127.0.0.1 with its own storage."""

    name = "xandikos"

    def __init__(self, folder: Path) -> None:
        self.users: dict[str, str] = {}  # no logins: Xandikos leaves them to a proxy
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> XandikosServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable, "-m", "xandikos", "serve",
            "-d", str(self.folder / "data"), "--state-dir", str(self.folder / "state"),
            "--autocreate", "--no-detect-systemd", "-l", "127.0.0.1", "-p", str(self.port),
        ]
        self._launch(
            argv,
            lambda: httpx.request("PROPFIND", self.url + "/", headers={"Depth": "0"}, timeout=0.5),
            timeout,
        )
        return self

    def client(self, user: str) -> httpx.Client:
        """A plain httpx client (for test set-up, not the code under test)."""
        return httpx.Client(base_url=self.url, timeout=30)

    def make_addressbook(self, user: str, name: str) -> str:
        """Create an empty address book ``/<user>/<name>/`` (fresh: deleted first); its URL."""
        with self.client(user) as http:
            made = http.request("MKCOL", f"/{user}/")  # a plain folder; 405 once it exists
            if made.status_code not in (201, 405):
                made.raise_for_status()
            http.delete(f"/{user}/{name}/")
            response = http.request(
                "MKCOL",
                f"/{user}/{name}/",
                content=_MKCOL.format(name=name),
                headers={"Content-Type": "application/xml; charset=utf-8"},
            )
            response.raise_for_status()
        return f"{self.url}/{user}/{name}/"
