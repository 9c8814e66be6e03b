"""Operator safety without a server: durable writes, whole-card comparison, guards, outputs
against inputs, transport rules in the config, option checks and the run journal."""

from __future__ import annotations

import errno
import http.server
import json
import os
import shutil
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard import _atomic
from contactguard.carddav import HttpSession
from contactguard.cardtext import card_hash
from contactguard.cli import main
from contactguard.errors import ConfigError, SyncError
from contactguard.guards import (
    HANDFUL,
    check_keep_fields,
    check_region,
    nested_collections,
    too_many_deletions,
)
from contactguard.journal import KEEP, Entry, append, read_entries
from contactguard.outputs import check_outputs
from contactguard.syncconfig import Endpoint, load_config, secret

LEDGER = "phone,first_inbound_at\n+4915123456701,2026-01-05\n"
BOOK = "BEGIN:VCARD\r\nFN:Anna\r\nTEL:+4915123456701\r\nEND:VCARD\r\n"
FOLDER_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# --------------------------------------------------------------------------- durable writes


class TestDurableWrite:
    @given(data=st.binary(max_size=5000), sizes=st.lists(st.integers(1, 64), min_size=1))
    @settings(max_examples=60, deadline=None)
    def test_short_writes_of_any_size_still_write_everything(
        self, tmp_path_factory: pytest.TempPathFactory, data: bytes, sizes: list[int]
    ) -> None:
        """However few bytes each os.write takes, the file ends up holding all of the data."""
        folder = tmp_path_factory.mktemp("durable")
        calls = iter(sizes * (len(data) + 1))
        real = os.write
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_atomic.os, "write", lambda fd, b: real(fd, bytes(b[: next(calls)])))
            _atomic.write_new_durably(folder / "card.vcf", data)
        assert (folder / "card.vcf").read_bytes() == data
        assert stat.S_IMODE((folder / "card.vcf").stat().st_mode) == 0o600

    @given(data=st.binary(min_size=1, max_size=3000), room=st.integers(0, 3000))
    @settings(max_examples=60, deadline=None)
    def test_a_disk_that_fills_up_leaves_no_file(
        self, tmp_path_factory: pytest.TempPathFactory, data: bytes, room: int
    ) -> None:
        """When the disk fills up anywhere in the write, OSError is raised and no file remains."""
        folder = tmp_path_factory.mktemp("full")
        left = [room]
        real = os.write

        def disk(fd: int, chunk: bytes) -> int:
            if left[0] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            taken = real(fd, bytes(chunk[: left[0]]))
            left[0] -= taken
            return taken

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_atomic.os, "write", disk)
            if room >= len(data):
                _atomic.write_new_durably(folder / "card.vcf", data)
                assert (folder / "card.vcf").read_bytes() == data
                return
            with pytest.raises(OSError, match="No space left"):
                _atomic.write_new_durably(folder / "card.vcf", data)
        assert list(folder.iterdir()) == []

    def test_a_write_that_makes_no_progress_is_a_full_disk(self, tmp_path: Path) -> None:
        """os.write returning 0 is treated as ENOSPC instead of looping for ever."""
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_atomic.os, "write", lambda fd, b: 0)
            with pytest.raises(OSError) as caught:
                _atomic.write_new_durably(tmp_path / "x", b"data")
        assert caught.value.errno == errno.ENOSPC
        assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- card comparison

OURS = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//contactguard//EN\r\nUID:anna-1\r\nFN:Anna Schmidt\r\n"
    "N:Schmidt;Anna;;;\r\nTEL;TYPE=CELL:+491701234567\r\nORG:Weber\\, Schmidt GmbH\r\n"
    "END:VCARD\r\n"
)


def _props(text: str) -> list[str]:
    return text.split("\r\n")[1:-2]


_NAMES = st.sampled_from(
    ["PHOTO;ENCODING=b;TYPE=JPEG", "X-ANDROID-CUSTOM", "item1.X-ABRELATEDNAMES", "item2.X-ABLabel",
     "X-SOCIALPROFILE;TYPE=twitter", "BIRTHPLACE", "X-WA-BIZ-NAME", "NOTE", "EMAIL;TYPE=HOME",
     "CATEGORIES", "X-PHONETIC-LAST-NAME", "IMPP;X-SERVICE-TYPE=WhatsApp", "GEO", "SOMETHING-NEW"]
)  # fmt: skip
_VALUES = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="\\"),
                  min_size=1, max_size=40).filter(lambda v: v.strip() != "")  # fmt: skip


class TestCardHash:
    @given(name=_NAMES, value=_VALUES)
    @settings(max_examples=200)
    def test_any_added_property_changes_the_hash(self, name: str, value: str) -> None:
        """A card with one more property of any kind (PHOTO, X-, grouped, unknown) differs."""
        edited = OURS.replace("END:VCARD", f"{name}:{value}\r\nEND:VCARD")
        assert card_hash(edited) != card_hash(OURS)

    @given(order=st.permutations(_props(OURS)), fold=st.integers(1, 74), lf=st.booleans())
    @settings(max_examples=100)
    def test_how_a_server_writes_the_card_does_not_matter(
        self, order: list[str], fold: int, lf: bool
    ) -> None:
        """Order, folding, line ends, name case and PRODID/REV do not change the hash."""
        lines = []
        for line in order:
            head, _, value = line.partition(":")
            if head.startswith("PRODID"):
                line = "PRODID:-//Radicale//NONSGML Radicale Server//EN"
            else:
                line = f"{head.lower()}:{value}"
            lines += [line[:fold]] + [
                " " + line[i : i + fold] for i in range(fold, len(line), fold)
            ]
        lines += ["REV:2026-12-05T04:00:00Z"]
        end = "\n" if lf else "\r\n"
        text = end.join(["BEGIN:VCARD", *lines, "END:VCARD", ""])
        assert card_hash(text) == card_hash(OURS)

    @pytest.mark.parametrize(
        ("ours", "theirs"),
        [
            ("N:Schmidt;Anna;;;", "N:Schmidt;Anna"),
            ("TEL;TYPE=CELL:+491701234567", "TEL;type=cell;TYPE=voice:+491701234567"),
            ("ORG:Weber\\, Schmidt GmbH", "ORG:Weber, Schmidt GmbH"),
        ],
        ids=["trailing-components", "type-params", "escaping"],
    )
    def test_equal_meaning_written_differently_is_equal_or_different_as_it_should(
        self, ours: str, theirs: str
    ) -> None:
        """Trailing empty N parts and escaping are the same; an added TYPE is a difference."""
        same = card_hash(OURS.replace(ours, theirs)) == card_hash(OURS)
        assert same == ("voice" not in theirs)


# --------------------------------------------------------------------------- guards


_SEGMENT = st.text("abcdefgh-_%20", min_size=1, max_size=8).filter(lambda s: "%" not in s)


class TestGuardFunctions:
    @given(path=st.lists(_SEGMENT, min_size=1, max_size=4), slash=st.booleans(),
           upper=st.booleans(), port=st.booleans())  # fmt: skip
    def test_one_collection_spelt_two_ways_is_the_same(
        self, path: list[str], slash: bool, upper: bool, port: bool
    ) -> None:
        """Trailing slash, host case and the default port do not hide that it is one book."""
        a = "https://dav.example.com/" + "/".join(path) + "/"
        host = "DAV.Example.com" if upper else "dav.example.com"
        b = f"https://{host}{':443' if port else ''}/" + "/".join(path) + ("/" if slash else "")
        assert nested_collections(a, b) == "the source and the target are the same address book"

    @given(path=st.lists(_SEGMENT, min_size=1, max_size=3), more=st.lists(_SEGMENT, min_size=1))
    def test_a_book_inside_another_is_nested(self, path: list[str], more: list[str]) -> None:
        """A target below the source (or the other way round) is refused as nested."""
        outer = "https://dav.example.com/" + "/".join(path)
        inner = outer + "/" + "/".join(more) + "/"
        assert "one inside the other" in (nested_collections(outer, inner) or "")
        assert "one inside the other" in (nested_collections(inner, outer) or "")

    def test_sibling_books_and_other_hosts_are_fine(self) -> None:
        """Two books side by side, or on two servers, pass the guard."""
        assert nested_collections("https://d.example/u/all/", "https://d.example/u/all2/") is None
        assert nested_collections("https://a.example/u/all/", "https://b.example/u/all/") is None

    @given(deletes=st.integers(0, 500), cards=st.integers(0, 500),
           share=st.floats(0.01, 1.0))  # fmt: skip
    def test_the_share_guard_trips_exactly_above_share_and_handful(
        self, deletes: int, cards: int, share: float
    ) -> None:
        """Refused iff more than a handful and more than the share of the cards would go."""
        refused = too_many_deletions(deletes, cards, share) is not None
        assert refused == (deletes > HANDFUL and cards > 0 and deletes > share * cards)

    @given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
    def test_every_known_region_is_accepted(self, region: str) -> None:
        """Each region phonenumbers knows passes, in any case."""
        assert check_region(region.lower()) == region

    @given(
        st.text(max_size=12).filter(
            lambda t: t.strip().upper() not in phonenumbers.SUPPORTED_REGIONS
        )
    )
    def test_anything_else_is_refused(self, text: str) -> None:
        """Any other text ("XX", "Germany", "49", "") is a config error."""
        with pytest.raises(ConfigError, match="not a region phonenumbers knows"):
            check_region(text)

    @pytest.mark.parametrize(
        ("name", "message"),
        [("Company", "not a vCard property"), ("PHOTO", "never kept"), ("X-FOO", "never kept"),
         ("e-mail", "not a vCard property")],
        ids=["csv-header", "binary", "x-name", "misspelt"],
    )  # fmt: skip
    def test_keep_fields_must_be_vcard_properties(self, name: str, message: str) -> None:
        """A keep field that is no vCard property, or one never carried, is refused."""
        with pytest.raises(ConfigError, match=message):
            check_keep_fields([name])

    def test_keep_field_names_are_upper_cased(self) -> None:
        """Known names pass, whatever their case."""
        assert check_keep_fields(["org", "Email", "TITLE"]) == {"ORG", "EMAIL", "TITLE"}


class TestCliOptionChecks:
    @pytest.mark.parametrize("region", ["XX", "Germany", "49"])
    @pytest.mark.parametrize("command", ["sanitize", "check"])
    def test_an_unknown_region_is_a_usage_error(
        self, runner: CliRunner, tmp_path: Path, region: str, command: str
    ) -> None:
        """--region with an unknown region stops before anything is read."""
        (tmp_path / "b.vcf").write_text(BOOK)
        (tmp_path / "l.csv").write_text(LEDGER)
        result = runner.invoke(
            main,
            [command, str(tmp_path / "b.vcf"), "-e", str(tmp_path / "l.csv"), "--region", region],
        )
        assert result.exit_code == 2
        assert "not a region phonenumbers knows" in result.output

    def test_invite_checks_the_region_too(self, runner: CliRunner) -> None:
        """invite --region XX is refused like sanitize's."""
        result = runner.invoke(main, ["invite", "030 1234567", "--region", "XX"])
        assert result.exit_code == 2

    def test_a_keep_field_that_is_no_property_is_a_usage_error(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """--keep-field Company (a CSV header, not a vCard property) is refused."""
        (tmp_path / "b.vcf").write_text(BOOK)
        (tmp_path / "l.csv").write_text(LEDGER)
        result = runner.invoke(
            main,
            [
                "sanitize",
                str(tmp_path / "b.vcf"),
                "-e",
                str(tmp_path / "l.csv"),
                "--keep-field",
                "Company",
            ],
        )
        assert result.exit_code == 2
        assert "not a vCard property name" in result.output


# --------------------------------------------------------------------------- outputs vs inputs


class TestOutputsNeverNameInputs:
    def files(self, tmp_path: Path) -> tuple[Path, Path]:
        (tmp_path / "ev").mkdir()
        (tmp_path / "ev" / "ledger.csv").write_text(LEDGER)
        (tmp_path / "book.vcf").write_text(BOOK)
        return tmp_path / "book.vcf", tmp_path / "ev" / "ledger.csv"

    @pytest.mark.parametrize(
        "evidence",
        ["ev", "ev/", "ev/*.csv", "e?/led*"],
        ids=["folder", "folder-slash", "glob", "glob-in-folder"],
    )
    @pytest.mark.parametrize("flag", ["-o", "--report"])
    def test_an_output_onto_evidence_reached_through_a_folder_or_glob_is_refused(
        self,
        runner: CliRunner,
        tmp_path: Path,
        evidence: str,
        flag: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """-e ev/ -o ev/ledger.csv (or a glob) is refused and the ledger is untouched."""
        _book, ledger = self.files(tmp_path)
        monkeypatch.chdir(tmp_path)
        before = ledger.read_bytes()
        result = runner.invoke(
            main, ["sanitize", "book.vcf", "-e", evidence, flag, "ev/ledger.csv", "-q"]
        )
        assert result.exit_code == 1
        assert "is an input file" in result.output
        assert ledger.read_bytes() == before

    def test_an_output_onto_a_fifo_is_refused(self, runner: CliRunner, tmp_path: Path) -> None:
        """-o naming a FIFO is refused: it stays a FIFO."""
        book, ledger = self.files(tmp_path)
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        result = runner.invoke(main, ["sanitize", str(book), "-e", str(ledger), "-o", str(fifo)])
        assert result.exit_code == 1
        assert "not a regular file" in result.output
        assert stat.S_ISFIFO(fifo.stat().st_mode)

    def test_an_output_onto_a_device_is_refused(self, tmp_path: Path) -> None:
        """A device node as output is refused (the rename would replace it)."""
        with pytest.raises(ConfigError, match="not a regular file"):
            check_outputs([("-o", "/dev/null")], [])

    def test_standard_output_is_always_fine(self, tmp_path: Path) -> None:
        """'-' is standard output, never a file."""
        check_outputs([("-o", "-")], ["-"])

    @given(tree=st.lists(st.lists(st.sampled_from("abcd"), min_size=1, max_size=3),
                         min_size=1, max_size=6, unique_by=tuple),
           pick=st.integers(0, 100), link=st.booleans())  # fmt: skip
    @FOLDER_SETTINGS
    def test_any_file_below_an_evidence_folder_is_refused_as_output(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        tree: list[list[str]],
        pick: int,
        link: bool,
    ) -> None:
        """Whatever the folder layout, an output that is one of its files (or a link to one)
        is refused."""
        root = tmp_path_factory.mktemp("tree")
        made = []
        for parts in tree:
            path = root.joinpath("ev", *parts[:-1], parts[-1] + ".csv")
            if any(p.is_file() for p in path.parents):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(LEDGER)
            made.append(path)
        if not made:
            return
        target = made[pick % len(made)]
        if link:
            (root / "link").symlink_to(target)
            target = root / "link"
        with pytest.raises(ConfigError, match="is an input file"):
            check_outputs([("-o", target)], [root / "ev"])

    def test_a_quarantine_folder_holding_evidence_is_refused(self, tmp_path: Path) -> None:
        """Quarantined cards must not land among the evidence files the run reads."""
        (tmp_path / "ev").mkdir()
        (tmp_path / "ev" / "ledger.csv").write_text(LEDGER)
        with pytest.raises(ConfigError, match="holds an input of this run"):
            check_outputs([("quarantine", tmp_path / "ev")], [tmp_path / "ev" / "ledger.csv"])

    def test_two_outputs_on_one_file_are_refused(self, tmp_path: Path) -> None:
        """report and state naming one file would overwrite each other: refused."""
        with pytest.raises(ConfigError, match="name the same file"):
            check_outputs([("report", tmp_path / "x"), ("state", tmp_path / "." / "x")], [])


# --------------------------------------------------------------------------- transport


def config_text(
    url: str, extra: str = "", auth: str = 'username = "u"\npassword_env = "PW"\n'
) -> str:
    return (
        f'quarantine = "q/"\n{extra}[source]\npath = "b.vcf"\n'
        f'[target]\nurl = "{url}"\n{auth}[evidence]\nsources = ["l.csv"]\n'
    )


class TestPlainHttp:
    @pytest.mark.parametrize(
        "url",
        ["http://dav.example.com/p/", "http://192.168.1.10:5232/p/", "http://[fe80::1]/p/"],
        ids=["hostname", "lan-address", "link-local-v6"],
    )
    def test_credentials_over_plain_http_are_refused(self, tmp_path: Path, url: str) -> None:
        """A password for an http:// URL that is not loopback is a config error."""
        (tmp_path / "sync.toml").write_text(config_text(url))
        with pytest.raises(ConfigError, match="in clear over http://"):
            load_config(tmp_path / "sync.toml")

    @given(st.ip_addresses(v=4).filter(lambda a: not a.is_loopback))
    @settings(
        max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    def test_any_non_loopback_address_is_refused(self, tmp_path: Path, address: object) -> None:
        """Every IPv4 address outside 127.0.0.0/8 counts as the network."""
        (tmp_path / "sync.toml").write_text(config_text(f"http://{address}/p/"))
        with pytest.raises(ConfigError, match="in clear over http://"):
            load_config(tmp_path / "sync.toml")

    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:5232/p/", "http://localhost/p/", "http://[::1]/p/",
                "http://127.8.9.10/p/"],
    )  # fmt: skip
    def test_loopback_is_allowed(self, tmp_path: Path, url: str) -> None:
        """Plain HTTP to this machine carries nothing over a network."""
        (tmp_path / "sync.toml").write_text(config_text(url))
        assert load_config(tmp_path / "sync.toml").warnings == ()

    def test_allow_insecure_http_loads_and_warns(self, tmp_path: Path) -> None:
        """allow_insecure_http = true accepts the URL and leaves a warning for every run."""
        (tmp_path / "sync.toml").write_text(
            config_text("http://dav.example.com/p/", "allow_insecure_http = true\n")
        )
        config = load_config(tmp_path / "sync.toml")
        assert config.allow_insecure_http
        assert config.warnings == (
            "[target] url http://dav.example.com/p/: credentials are sent in clear over http:// "
            "(allow_insecure_http = true)",
        )

    def test_the_cli_warns_on_every_run(self, runner: CliRunner, tmp_path: Path) -> None:
        """sync prints the plain-HTTP warning even with --quiet, before it connects."""
        (tmp_path / "sync.toml").write_text(
            config_text("http://dav.invalid/p/", "allow_insecure_http = true\nretries = 0\n")
        )
        result = runner.invoke(
            main, ["sync", "-c", str(tmp_path / "sync.toml"), "-q"], env={"PW": "x"}
        )
        assert result.output.startswith("warning: [target] url http://dav.invalid/p/")

    def test_an_evidence_token_over_plain_http_is_refused(self, tmp_path: Path) -> None:
        """A bearer token for an http:// evidence source elsewhere is refused like a password."""
        text = config_text("https://dav.example.com/p/").replace(
            'sources = ["l.csv"]', 'sources = ["http://crm.example.com/in.csv"]\ntoken_env = "T"'
        )
        (tmp_path / "sync.toml").write_text(text)
        with pytest.raises(ConfigError, match=r"\[evidence\] source http://crm.example.com"):
            load_config(tmp_path / "sync.toml")

    def test_no_credentials_over_http_needs_no_switch(self, tmp_path: Path) -> None:
        """A URL without any login sends no secret, so plain HTTP is allowed."""
        (tmp_path / "sync.toml").write_text(config_text("http://dav.example.com/p/", auth=""))
        assert load_config(tmp_path / "sync.toml").warnings == ()

    def test_there_is_no_switch_to_turn_tls_verification_off(self, tmp_path: Path) -> None:
        """verify = false is an unknown key: TLS is always verified."""
        (tmp_path / "sync.toml").write_text(
            config_text("https://dav.example.com/p/", auth="verify = false\n")
        )
        with pytest.raises(ConfigError, match="unknown key 'verify'"):
            load_config(tmp_path / "sync.toml")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    """An https server on 127.0.0.1 with a self-signed certificate; its URL and hit counter."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    hits = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_REPORT(self) -> None:
            self.send_response(207)
            self.end_headers()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")

    class Server(http.server.ThreadingHTTPServer):
        def get_request(self):  # type: ignore[no-untyped-def]
            sock, address = super().get_request()
            hits[0] += 1
            return context.wrap_socket(sock, server_side=True), address

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # the client hangs up on the certificate: expected

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/dav/", hits
    finally:
        server.shutdown()
        server.server_close()


class TestTls:
    def test_a_certificate_failure_says_so_names_host_and_ca_bundle_and_is_not_retried(
        self, self_signed: tuple[str, list[int]]
    ) -> None:
        """A self-signed server certificate is one clear error after one attempt."""
        url, hits = self_signed
        before = hits[0]
        with HttpSession(retries=3, backoff=0.0) as session, pytest.raises(SyncError) as caught:
            session.request("REPORT", url)
        message = str(caught.value)
        assert message.startswith("127.0.0.1: the server's TLS certificate could not be verified")
        assert "ca_bundle" in message
        assert hits[0] - before == 1

    def test_an_unreadable_ca_bundle_is_a_sync_error(self, tmp_path: Path) -> None:
        """A missing CA bundle is a SyncError naming ca_bundle and the file."""
        with pytest.raises(SyncError, match=r"ca_bundle .*missing\.pem: cannot use it"):
            HttpSession(ca_bundle=str(tmp_path / "missing.pem"))


# --------------------------------------------------------------------------- journal


def entry(i: int) -> Entry:
    return Entry(f"2026-12-05T04:{i % 60:02d}:00Z", "https://dav.example/p/", "delete",
                 f"uid-{i}", ("+49170*****67",), "no-evidence", None)  # fmt: skip


class TestJournal:
    def test_the_journal_rotates_and_history_reads_oldest_first(self, tmp_path: Path) -> None:
        """Past max_bytes the journal rotates; at most KEEP old files; order is kept."""
        path = tmp_path / "sync.journal"
        for i in range(200):
            append(path, [entry(i)], max_bytes=4096)
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["sync.journal", *(f"sync.journal.{n}" for n in range(1, KEEP + 1))]
        assert all(p.stat().st_size <= 4096 for p in tmp_path.iterdir())
        uids = [e.uid for e in read_entries(path)]
        assert uids == [f"uid-{i}" for i in range(200 - len(uids), 200)]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    @given(garbage=st.lists(st.text(max_size=30), max_size=5))
    @settings(
        max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    def test_a_damaged_line_does_not_hide_the_rest(
        self, tmp_path: Path, garbage: list[str]
    ) -> None:
        """Lines cut short by a crash (or any junk) are skipped; good entries stay readable."""
        path = tmp_path / f"j{abs(hash(tuple(garbage)))}"
        path.write_text("".join(g.replace("\n", " ") + "\n" for g in garbage))
        append(path, [entry(1)], max_bytes=1 << 20)
        assert [e.uid for e in read_entries(path)][-1:] == ["uid-1"]

    def test_an_entry_line_is_json_with_every_field(self) -> None:
        """One line holds time, target, action, UID, masked numbers, reason, quarantine."""
        assert set(json.loads(entry(3).line())) == {
            "time",
            "target",
            "action",
            "uid",
            "numbers",
            "reason",
            "quarantine",
        }


# --------------------------------------------------------------------------- file modes


class TestFileModes:
    def test_a_clean_book_and_report_are_private(self, runner: CliRunner, tmp_path: Path) -> None:
        """sanitize writes the clean book and the report 0600: they hold personal data."""
        (tmp_path / "b.vcf").write_text(BOOK)
        (tmp_path / "l.csv").write_text(LEDGER)
        result = runner.invoke(main, ["sanitize", str(tmp_path / "b.vcf"), "-e",
                                      str(tmp_path / "l.csv"), "-o", str(tmp_path / "out.vcf"),
                                      "--report", str(tmp_path / "r.json"), "-q"])  # fmt: skip
        assert result.exit_code == 0, result.output
        for name in ("out.vcf", "r.json"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600

    def test_a_qr_code_is_a_normal_file(self, runner: CliRunner, tmp_path: Path) -> None:
        """A QR image is meant to be published: its mode is 0666 less the umask, not 0600."""
        old = os.umask(0o022)
        try:
            result = runner.invoke(
                main, ["invite", "+491701234567", "--qr", str(tmp_path / "invite.svg")]
            )
        finally:
            os.umask(old)
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE((tmp_path / "invite.svg").stat().st_mode) == 0o644

    def test_a_journal_folder_is_created_private(self, tmp_path: Path) -> None:
        """A journal in a new folder gets a 0700 folder and a 0600 file."""
        path = tmp_path / "new" / "sync.journal"
        append(path, [entry(1)], max_bytes=1 << 20)
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


class TestSecretFiles:
    @given(mode=st.integers(0o400, 0o777))
    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    def test_a_secret_file_is_read_only_when_no_one_else_may_access_it(
        self, tmp_path: Path, mode: int
    ) -> None:
        """Any group or other permission bit refuses the file, as ssh does; 0400-0700 are read."""
        secret_file = tmp_path / "pw"
        secret_file.write_text("s3cret\n")
        secret_file.chmod(mode)
        endpoint = Endpoint(password_file=secret_file)
        if mode & 0o077:
            with pytest.raises(ConfigError, match="may be read by other users") as caught:
                secret(endpoint, "password", "target")
            assert "s3cret" not in str(caught.value)
        else:
            assert secret(endpoint, "password", "target") == "s3cret"

    def test_a_qr_code_onto_a_fifo_is_refused(self, runner: CliRunner, tmp_path: Path) -> None:
        """invite --qr naming a FIFO is refused: the FIFO stays."""
        fifo = tmp_path / "qr.svg"
        os.mkfifo(fifo)
        result = runner.invoke(main, ["invite", "+491701234567", "--qr", str(fifo)])
        assert result.exit_code == 1
        assert "not a regular file" in result.output
        assert stat.S_ISFIFO(fifo.stat().st_mode)


class TestEvidenceImportLedger:
    def test_a_ledger_inside_an_imported_folder_is_refused(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """evidence import refuses a --ledger that is one of the files it reads (via a folder)."""
        folder = tmp_path / "ev"
        folder.mkdir()
        (folder / "ledger.csv").write_text("phone,first_inbound_at\n+4917012345678,2024-01-02\n")
        ledger = folder / "ledger.sqlite"
        assert runner.invoke(main, ["evidence", "import", str(folder / "ledger.csv"),
                                    "--ledger", str(ledger)]).exit_code == 0
        before = ledger.read_bytes()
        result = runner.invoke(main, ["evidence", "import", str(folder), "--ledger", str(ledger)])
        assert result.exit_code == 1, result.output
        assert "--ledger" in result.output and "is an input file" in result.output
        assert ledger.read_bytes() == before
