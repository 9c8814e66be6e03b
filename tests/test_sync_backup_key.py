"""The sync config's ``[evidence] backup_key_file``: the key of an encrypted phone backup."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phone_databases import Msgstore, crypt15_aes_key, encrypt_backup
from radicale_server import RadicaleServer
from test_sync import ANNA, CARLA, Setup

from contactguard.errors import ConfigError, EvidenceError
from contactguard.syncconfig import load_config

ROOT_KEY = bytes(range(32, 64))  # a made-up 64-digit key
WHEN = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


def backup(folder: Path, customers: list[str]) -> Path:
    """A ``msgstore.db.crypt15`` in which each customer wrote first, and its key file (0600)."""
    db = Msgstore(folder / "plain.db")
    for number in customers:
        db.message(db.chat(db.jid(number.lstrip("+"))), False, WHEN)
    plain = db.close()
    path = folder / "msgstore.db.crypt15"
    path.write_bytes(encrypt_backup(plain.read_bytes(), crypt15_aes_key(ROOT_KEY)))
    plain.unlink()
    key = folder / "backup.key"
    key.write_text(ROOT_KEY.hex() + "\n")
    key.chmod(0o600)
    return path


def with_key(setup: Setup, line: str) -> None:
    """The setup's config with the backup as its evidence and ``line`` in [evidence]."""
    text = setup.config.read_text().replace(
        '[evidence]\nsources = ["ledger.csv"]\n',
        f'[evidence]\nsources = ["msgstore.db.crypt15"]\n{line}',
    )
    setup.config.write_text(text)


@pytest.fixture
def setup(radicale: RadicaleServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    return Setup(radicale, tmp_path, monkeypatch)


class TestBackupKeyFile:
    def test_sync_reads_an_encrypted_backup_with_the_configured_key(
        self, setup: Setup, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """backup_key_file opens the .crypt15 evidence: its customers reach the phone."""
        monkeypatch.delenv("CONTACTGUARD_BACKUP_KEY", raising=False)
        backup(setup.tmp, [ANNA, CARLA])
        with_key(setup, 'backup_key_file = "backup.key"\n')
        setup.run()
        assert sorted(setup.target_cards()) == ["anna-1.vcf", "carla-1.vcf"]

    def test_without_the_key_the_run_fails_naming_both_ways(
        self, setup: Setup, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No key in the config nor the environment: one error, nothing written to the phone."""
        monkeypatch.delenv("CONTACTGUARD_BACKUP_KEY", raising=False)
        backup(setup.tmp, [ANNA])
        with_key(setup, "")
        with pytest.raises(EvidenceError, match=r"backup_key_file in \[evidence\]\) or set "
                           "CONTACTGUARD_BACKUP_KEY"):
            setup.run()
        assert setup.target_cards() == {}

    def test_path_is_relative_to_the_config_and_an_input(self, tmp_path: Path) -> None:
        """The key file is resolved next to the config and counted among the run's inputs."""
        config = self.config(tmp_path, 'backup_key_file = "keys/backup.key"\n')
        key = tmp_path / "keys" / "backup.key"
        loaded = load_config(config)
        assert loaded.backup_key_file == key
        assert key in loaded.inputs()

    def test_missing_key_file_is_a_config_error(self, tmp_path: Path) -> None:
        """A key file that does not exist is refused when the config is read."""
        config = self.config(tmp_path, 'backup_key_file = "nowhere.key"\n')
        with pytest.raises(ConfigError, match="backup_key_file: no such file"):
            load_config(config)

    @settings(max_examples=15, deadline=None)
    @given(mode=st.integers(0o600, 0o777).filter(lambda m: m & 0o077))
    def test_key_file_others_may_read_is_refused(self, mode: int) -> None:
        """Like a password file, a key file readable by other users is refused."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            config = self.config(Path(folder), 'backup_key_file = "keys/backup.key"\n')
            (Path(folder) / "keys" / "backup.key").chmod(mode)
            with pytest.raises(ConfigError, match="may be read by other users"):
                load_config(config)

    @staticmethod
    def config(folder: Path, line: str) -> Path:
        (folder / "keys").mkdir()
        key = folder / "keys" / "backup.key"
        key.write_text(ROOT_KEY.hex())
        key.chmod(0o600)
        (folder / "msgstore.db.crypt15").write_bytes(b"")
        path = folder / "sync.toml"
        path.write_text(
            'quarantine = "q/"\n[source]\npath = "book.vcf"\n'
            '[target]\nurl = "https://dav.example.com/phone/"\nusername = "p"\n'
            'password_env = "CG_TARGET_PASSWORD"\n'
            f'[evidence]\nsources = ["msgstore.db.crypt15"]\n{line}'
        )
        return path
