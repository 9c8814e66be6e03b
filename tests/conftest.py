from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from radicale_server import RadicaleServer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# --- Radicale (CardDAV sync) ------------------------------------------------------------------


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    """A real Radicale server on 127.0.0.1 (htpasswd auth), shared by the whole session."""
    server = RadicaleServer(tmp_path_factory.mktemp("radicale")).start()
    try:
        yield server
    finally:
        server.stop()
