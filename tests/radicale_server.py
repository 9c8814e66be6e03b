"""A real Radicale server for tests and benchmarks: temporary storage, htpasswd auth, free port.

Used by the session-scoped ``radicale`` fixture in conftest.py and by benchmarks/bench_sync.py.
Radicale denies every login unless an auth type is configured (since 3.5), so auth is real here.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

USERS = {"it": "it-secret-pw", "phone1": "phone1-secret-pw", "crm": "crm-secret-pw"}

_MKCOL = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>'
    "<d:resourcetype><d:collection/><c:addressbook/></d:resourcetype>"
    "<d:displayname>{name}</d:displayname>"
    "</d:prop></d:set></d:mkcol>"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A server started as a child process on a free port of 127.0.0.1, logging to its folder."""

    name = "server"
    folder: Path
    url: str
    process: subprocess.Popen[bytes] | None = None

    def _launch(self, argv: list[str], probe: Callable[[], object], timeout: float) -> None:
        """Start ``argv`` and return once ``probe`` gets an answer (any HTTP status)."""
        log_path = self.folder / f"{self.name}.log"
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {log_path.read_text()}")
            try:
                probe()
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            return
        self.stop()
        raise RuntimeError(f"{self.name} did not answer in time")

    def client(self, user: str) -> httpx.Client:
        """An httpx client for test set-up (as ``user`` where the server has logins)."""
        raise NotImplementedError

    def put_card(self, user: str, book: str, name: str, vcard: str) -> None:
        """Store one card as ``/<user>/<book>/<name>.vcf``."""
        with self.client(user) as http:
            response = http.put(
                f"/{user}/{book}/{name}.vcf",
                content=vcard.encode(),
                headers={"Content-Type": "text/vcard; charset=utf-8"},
            )
            response.raise_for_status()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if getattr(self, "log", None) is not None:
            self.log.close()


class RadicaleServer(ServerProcess):
    """``python -m radicale`` on 127.0.0.1 with its own config, storage and users."""

    name = "radicale"

    def __init__(
        self, folder: Path, *, users: dict[str, str] | None = None, log_level: str = "warning"
    ) -> None:
        self.folder = folder
        self.users = dict(users or USERS)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> RadicaleServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        htpasswd = self.folder / "users"
        htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        config = self.folder / "config"
        config.write_text(
            "[server]\n"
            f"hosts = 127.0.0.1:{self.port}\n"
            "[auth]\n"
            "type = htpasswd\n"
            f"htpasswd_filename = {htpasswd}\n"
            "htpasswd_encryption = plain\n"
            "delay = 0\n"
            "[rights]\n"
            "type = owner_only\n"
            "[storage]\n"
            f"filesystem_folder = {self.folder / 'collections'}\n"
            "[web]\n"
            "type = none\n"
            "[logging]\n"
            f"level = {self.log_level}\n"
        )
        self._launch(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            lambda: httpx.get(self.url + "/", timeout=0.5),
            timeout,
        )
        return self

    def client(self, user: str) -> httpx.Client:
        """A plain httpx client logged in as ``user`` (for test set-up, not the code under test)."""
        return httpx.Client(base_url=self.url, auth=(user, self.users[user]), timeout=30)

    def make_addressbook(self, user: str, name: str) -> str:
        """Create an empty address book ``/<user>/<name>/`` (fresh: deleted first); its URL."""
        with self.client(user) as http:
            http.request("PROPFIND", f"/{user}/", headers={"Depth": "0"})  # creates the principal
            http.delete(f"/{user}/{name}/")
            response = http.request("MKCOL", f"/{user}/{name}/", content=_MKCOL.format(name=name))
            response.raise_for_status()
        return f"{self.url}/{user}/{name}/"

    def put_book(self, user: str, name: str, vcards: bytes) -> None:
        """Replace the address book ``/<user>/<name>/`` with all cards of one file at once."""
        with self.client(user) as http:
            http.request("PROPFIND", f"/{user}/", headers={"Depth": "0"})
            response = http.put(
                f"/{user}/{name}/", content=vcards, headers={"Content-Type": "text/vcard"}
            )
            response.raise_for_status()

    def cards(self, user: str, book: str) -> dict[str, str]:
        """file name → vCard text of every card in the book (read straight from storage)."""
        folder = self.folder / "collections" / "collection-root" / user / book
        if not folder.is_dir():
            return {}
        return {
            p.name: p.read_text(encoding="utf-8")
            for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")
        }
