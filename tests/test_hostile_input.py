"""Hostile input, second round: bounded reading of long lines in pieces, zip archives whose
directory lies, file errors as one-line messages, terminal and CSV control characters, numbers
used as names — each class with made-up fixtures and a hypothesis generator for more of it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import struct
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard import _workers, _zip, sanitize
from contactguard._files import named_file
from contactguard._text import csv_cell, terminal_lines, terminal_safe
from contactguard.books import ReadOptions, chunks, read_book
from contactguard.cli import main
from contactguard.errors import ConfigError, ContactguardError, EvidenceError, InputError
from contactguard.evidence import SourceContext, chats, iter_records, ledger, load_evidence
from contactguard.report import masked_name

TESTS = Path(__file__).parent
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
CHAT = "12/31/20, 23:59 - +49 151 23456701: hi\n12/31/20, 23:59 - Shop: hello\n"
CHAT_NAME = "WhatsApp Chat with Anna.txt"


def peak_mb(code: str, *args: str) -> tuple[float, float, str]:
    """Run ``code`` in a fresh interpreter: (its peak RSS, its forked children's, its stdout)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc (Linux)")
    script = textwrap.dedent(code) + textwrap.dedent("""
        import re, resource
        with open("/proc/self/status") as status:
            peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read())
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print("RSS", int(peak.group(1)) / 1024, children / 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    out, _, rss = done.stdout.rpartition("RSS ")
    parent, children = rss.split()
    return float(parent), float(children), out


# --- one bounded line reader: a long line in a book read in pieces ----------------------------

LONG_BOOK = """
    import os
    import sys
    from pathlib import Path
    from contactguard.evidence import load_evidence
    from contactguard.pipeline import Sanitizer
    path, fmt = Path(sys.argv[1]), sys.argv[2]
    with path.open("wb") as out:
        if fmt == "vcard":
            card = (b"BEGIN:VCARD\\r\\nVERSION:3.0\\r\\nFN:Anna %d\\r\\n"
                    b"TEL:+49151234%05d\\r\\nEND:VCARD\\r\\n")
            rows = [card % (i, i) for i in range(40_000)]
            long_start = b"BEGIN:VCARD\\r\\nVERSION:3.0\\r\\nNOTE:"
            long_end = b"\\r\\nEND:VCARD\\r\\n"
        else:
            out.write(b"Name,Phone\\n")
            rows = [b"Anna %d,+49151234%05d\\n" % (i, i) for i in range(100_000)]
            long_start, long_end = b"", b"\\n"
        out.writelines(rows)
        out.write(long_start)
        for _ in range(100):
            out.write(b"A" * (1 << 20))
        out.write(long_end)
        out.writelines(rows)
    sanitizer = Sanitizer(load_evidence([]))
    try:
        sanitizer.run([str(path)], jobs=2, report=open(os.devnull, "wb"))
    except Exception as exc:
        print(type(exc).__name__, exc)
    print("contacts", sanitizer.summary.contacts_in)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the workers fork (Linux only)")
@pytest.mark.parametrize("fmt", ["vcard", "csv"])
def test_a_100_mb_line_in_a_book_read_by_workers_keeps_memory_flat(
    tmp_path: Path, fmt: str
) -> None:
    """A 100 MB line inside a book of several MB, read in pieces by workers, costs neither the
    parent nor a worker memory that grows with the line."""
    parent, children, out = peak_mb(LONG_BOOK, str(tmp_path / f"book.{fmt}"), fmt)
    if fmt == "vcard":
        assert "contacts 80001" in out
    else:
        assert "line longer than 16,777,216 characters" in out
    assert parent < 150, parent
    assert children < 150, children


@st.composite
def long_line_books(draw: st.DrawFn) -> tuple[str, bytes]:
    """A vCard or CSV book whose lines run up to many planning blocks long, holding text that
    looks like a card start, quotes and CRs inside them."""
    fmt = draw(st.sampled_from(["vcard", "csv"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    filler = st.lists(st.sampled_from(["A", "BEGIN:VCARD", '"', " ", "\r", "x" * 50]),
                      max_size=40).map("".join)
    rows = []
    for i in range(draw(st.integers(3, 25))):
        text = draw(filler).replace("\r", "") if fmt == "csv" else draw(filler)
        if fmt == "vcard":
            text = text.replace("\r", "")
            rows.append(f"BEGIN:VCARD{eol}VERSION:3.0{eol}FN:P{i}{eol}NOTE:{text}{eol}"
                        f"TEL:+49170123{i:04d}{eol}END:VCARD{eol}")
        else:
            cell = '"' + text.replace('"', '""') + '"'
            rows.append(f"P{i},+49170123{i:04d},{cell}{eol}")
    head = "" if fmt == "vcard" else f"Name,Phone,Notes{eol}"
    return fmt, (head + "".join(rows)).encode()


@PROPERTY
@given(book=long_line_books(), block=st.integers(16, 300))
def test_pieces_cut_around_long_lines_read_as_the_whole_book(
    tmp_path_factory: pytest.TempPathFactory, book: tuple[str, bytes], block: int
) -> None:
    """Lines longer than the planning block (passed over, never held) move no cut off a
    record start and no line number: the pieces read one after another give the whole book."""
    fmt, data = book
    path = tmp_path_factory.mktemp("long") / f"book.{fmt}"
    path.write_bytes(data)
    plan = chunks.plan(path, path.name, ReadOptions(), 32)
    assert plan is not None
    cuts = list(replace(plan, block=block, min_chunk=1).chunks())
    whole = [(c.line, c.display_name, c.phones, c.error) for c in read_book(path)]
    pieces = [(c.line, c.display_name, c.phones, c.error)
              for cut in cuts for c in chunks.read_chunk(plan, cut, ReadOptions())]
    assert pieces == whole
    for cut in cuts[1:]:
        assert data[cut.start - 1:cut.start] == b"\n"


@pytest.mark.parametrize("block", range(16, 48))
def test_a_card_start_inside_a_passed_over_line_is_no_cut(tmp_path: Path, block: int) -> None:
    """Text "BEGIN:VCARD" ending a long line, wherever the planning blocks fall, starts no
    piece: only real card starts do."""
    cards = [f"BEGIN:VCARD\nFN:P{i}\nNOTE:{'x' * (i * 7 % 90)}BEGIN:VCARD\nTEL:+4917012{i:05d}\n"
             "END:VCARD\n" for i in range(12)]
    path = tmp_path / "book.vcf"
    path.write_text("".join(cards))
    data = path.read_bytes()
    plan = chunks.plan(path, path.name, ReadOptions(), 8)
    assert plan is not None
    cuts = list(replace(plan, block=block, min_chunk=1).chunks())
    assert all(data[cut.start - 1:cut.start + 13] == b"\nBEGIN:VCARD\nF" for cut in cuts[1:])


# --- one zip opener ----------------------------------------------------------------------------

def chat_zip(path: Path, text: str | bytes, name: str = CHAT_NAME, *,
             method: int = zipfile.ZIP_DEFLATED, extra: int = 0) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr(name, text)
        for index in range(extra):
            archive.writestr(f"IMG-{index:06d}.jpg", b"")
    return path


def central(data: bytes) -> int:
    """Where the chat's central directory entry starts."""
    return data.index(b"PK\x01\x02")


def test_a_zip_with_more_entries_than_the_limit_is_refused_before_its_directory_is_read(
    tmp_path: Path
) -> None:
    """An export with more entries than a chat export can hold is refused from its end
    record, with the count and the limit."""
    path = chat_zip(tmp_path / "many.zip", CHAT, extra=_zip.MAX_ENTRIES)
    with pytest.raises(EvidenceError, match=r"many\.zip: cannot read the zip: 20,001 entries; "
                                            r"the limit is 20,000"):
        chats.read_chat(path)


def test_a_directory_over_stating_the_compressed_size_does_not_bypass_the_ratio(
    tmp_path: Path
) -> None:
    """A member whose directory entry over-states its compressed size (a harmless-looking
    ratio) is refused while it inflates, at 100:1 against what it really consumed."""
    body = CHAT + " " * (20 << 20)
    path = chat_zip(tmp_path / "bomb.zip", body)
    data = bytearray(path.read_bytes())
    at = central(data)
    stated = len(body) // 50
    data[at + 20:at + 24] = struct.pack("<L", stated)
    data[18:22] = struct.pack("<L", stated)
    path.write_bytes(bytes(data))
    with pytest.raises(EvidenceError, match="compressed more than 100:1; refusing a likely zip"):
        load_evidence([path], me="Shop")


def test_a_directory_under_stating_the_inflated_size_stops_at_it(tmp_path: Path) -> None:
    """A member that inflates past the size its directory states is stopped there (under the
    ratio's grace size), with a message naming the member."""
    body = (CHAT * 20_000).encode()
    path = chat_zip(tmp_path / "lie.zip", body)
    data = bytearray(path.read_bytes())
    data[central(data) + 24:central(data) + 28] = struct.pack("<L", 1000)
    path.write_bytes(bytes(data))
    with pytest.raises(EvidenceError, match="inflates past the 1,000 bytes its directory entry"):
        chats.read_chat(path)


def test_zip_messages_are_never_empty(tmp_path: Path) -> None:
    """A deflate stream cut short says so instead of an empty reason."""
    path = chat_zip(tmp_path / "cut.zip", CHAT * 5000)
    data = bytearray(path.read_bytes())
    at = central(data)
    size = struct.unpack("<L", data[at + 20:at + 24])[0]
    data[30 + len(CHAT_NAME) + size // 2: 30 + len(CHAT_NAME) + size] = b"\x00" * (size - size // 2)
    path.write_bytes(bytes(data))
    with pytest.raises(EvidenceError) as caught:
        chats.read_chat(path)
    assert str(caught.value).split("cannot read the zip: ", 1)[1].strip()


@st.composite
def lying_zips(draw: st.DrawFn) -> bytes:
    """A chat export zip whose central directory and end record have random numbers written
    over their size, count, offset, method and flag fields."""
    body = draw(st.sampled_from([CHAT.encode(), CHAT.encode() * 400,
                                 CHAT.encode() + b" " * (3 << 20)]))
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", method) as archive:
        archive.writestr(CHAT_NAME, body)
        archive.writestr("IMG-1.jpg", b"\xff\xd8" * 10)
    data = bytearray(stream.getvalue())
    directory = central(data)
    end = data.rindex(b"PK\x05\x06")
    fields = [(directory + 10, "<H"), (directory + 8, "<H"), (directory + 16, "<L"),
              (directory + 20, "<L"), (directory + 24, "<L"), (directory + 42, "<L"),
              (end + 8, "<H"), (end + 10, "<H"), (end + 12, "<L"), (end + 16, "<L"),
              (18, "<L"), (22, "<L"), (8, "<H"), (26, "<H"), (28, "<H")]
    for offset, shape in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=4)):
        bits = 16 if shape == "<H" else 32
        value = draw(st.integers(0, (1 << bits) - 1) | st.sampled_from([0, 1, 8, 12, 99]))
        data[offset:offset + struct.calcsize(shape)] = struct.pack(shape, value)
    return bytes(data)


@PROPERTY
@given(data=lying_zips())
def test_generated_central_directories_end_in_a_result_or_one_clear_line(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    """Whatever a central directory claims, reading the export ends in a summary or in an
    EvidenceError of one non-empty line, and inflates no more than the limits allow."""
    path = tmp_path_factory.mktemp("zip") / "export.zip"
    path.write_bytes(data)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        chats.read_chat(path, date_order="MDY")
    except EvidenceError as exc:
        message = str(exc)
        assert "\n" not in message and not message.endswith(": "), message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000
    assert isinstance(chats.sniff(path, data[:4096]), bool)


def test_contactguard_errors_stay_contactguard_errors() -> None:
    """The zip opener's error is not a ContactguardError: chat reading translates it."""
    assert not issubclass(_zip.ZipLimitError, ContactguardError)


# --- one translator of file errors -------------------------------------------------------------

LEDGER = "phone,first_inbound_at,first_outbound_at\n+4917012345678,2026-01-10,\n"
BOOK = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna Schmidt\r\nTEL:+4917012345678\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:+49 171 2345678\r\nTEL:+4917123456 78\r\nEND:VCARD\r\n")


def one_line_error(result: Any) -> str:
    """The error line of a failed CLI run: exit 1, one line, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return str(lines[0])


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ledger.csv").write_text(LEDGER)
    (tmp_path / "book.vcf").write_text(BOOK)
    return tmp_path


@pytest.mark.parametrize("flag", ["-o", "--report"])
def test_an_output_naming_a_folder_is_one_line(runner: CliRunner, files: Path, flag: str) -> None:
    """-o or --report naming a folder is a one-line error naming it, not a traceback."""
    (files / "out").mkdir()
    result = runner.invoke(main, ["sanitize", str(files / "book.vcf"), "-e",
                                  str(files / "ledger.csv"), flag, str(files / "out"), "-q"])
    line = one_line_error(result)
    assert str(files / "out") in line and "folder" in line
    assert list((files / "out").iterdir()) == []


def test_an_output_in_a_missing_folder_is_one_line(runner: CliRunner, files: Path) -> None:
    """-o into a folder that does not exist names the folder, in one line."""
    result = runner.invoke(main, ["sanitize", str(files / "book.vcf"), "-e",
                                  str(files / "ledger.csv"), "-o", str(files / "no" / "x.vcf")])
    assert f"cannot write here: no folder {files / 'no'}" in one_line_error(result)


def test_a_sync_config_that_is_not_utf8_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    """A sync config with a byte that is not UTF-8 is a one-line error naming the config."""
    config = tmp_path / "sync.toml"
    config.write_bytes(b'quarantine = "q\xff"\n')
    line = one_line_error(runner.invoke(main, ["sync", "--config", str(config)]))
    assert "sync.toml: the config is not UTF-8 text (byte 0xff at offset 15)" in line


def test_named_file_keeps_the_cause_and_one_line(tmp_path: Path) -> None:
    """The translator names the file and its role in one line and keeps the original error."""
    path = tmp_path / "secret.txt"
    path.write_bytes(b"caf\xe9\n")
    with pytest.raises(InputError) as caught, named_file(path, "the password file"):
        path.read_text(encoding="utf-8")
    assert str(caught.value) == (f"{path}: the password file is not UTF-8 text "
                                 "(byte 0xe9 at offset 3)")
    assert isinstance(caught.value.__cause__, UnicodeDecodeError)


# --- names that are not UTF-8 ------------------------------------------------------------------

byte_names = st.binary(min_size=1, max_size=12).filter(
    lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")
)


@pytest.mark.parametrize("report", ["r.json", "r.html"])
def test_a_book_name_that_is_not_utf8_reaches_the_report_escaped(
    runner: CliRunner, files: Path, report: str
) -> None:
    """A book file named with a byte that is not UTF-8 is read, and the JSON and HTML
    reports show that byte as \\xff instead of failing to encode it."""
    name = os.fsdecode(b"book\xff.vcf")
    (files / name).write_text(BOOK)
    result = runner.invoke(main, ["sanitize", str(files / name), "-e", str(files / "ledger.csv"),
                                  "--report", str(files / report), "--dry-run", "-q"])
    assert result.exit_code == 0, result.output
    text = (files / report).read_text(encoding="utf-8")
    assert "book\\\\xff.vcf" in text or "book\\xff.vcf" in text


@PROPERTY
@given(name=byte_names)
def test_generated_byte_file_names_never_break_reading_or_the_report(
    tmp_path_factory: pytest.TempPathFactory, name: bytes
) -> None:
    """Any byte file name for a book and a chat export: sanitize and the JSON report of it
    succeed, and every name in the report encodes as UTF-8."""
    folder = tmp_path_factory.mktemp("names")
    book = folder / os.fsdecode(name + b".vcf")
    book.write_text(BOOK)
    chat = folder / os.fsdecode(b"chat" + name + b".txt")
    chat.write_text(CHAT)
    result = sanitize([book], [chat], me="Shop", region="DE")
    text = json.dumps(result.report, ensure_ascii=False)
    text.encode("utf-8")
    assert not re.search("[\ud800-\udfff]", text)
    assert all(ord(c) >= 0x20 for c in terminal_safe(str(book)))


def test_lone_surrogates_in_evidence_are_imported_escaped(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A JSONL ledger with "\\ud800" in a name and a chat export whose file name is not UTF-8
    import into the SQLite ledger, the odd characters written as escapes."""
    (tmp_path / "l.jsonl").write_text(
        '{"phone": "+4917012345678", "first_inbound_at": "2026-01-01", "name": "A\\ud800"}\n')
    chat = tmp_path / os.fsdecode(b"WhatsApp Chat with \xff.txt")
    chat.write_text(CHAT)
    db = tmp_path / "e.db"
    result = runner.invoke(main, ["evidence", "import", str(tmp_path / "l.jsonl"), str(chat),
                                  "--ledger", str(db), "--me", "Shop"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(main, ["evidence", "show", "--ledger", str(db)])
    assert "with \\xff.txt" in shown.output


# --- FIFOs and two spellings of one file -------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_matched_by_an_evidence_glob_is_skipped(tmp_path: Path) -> None:
    """A FIFO among the files a glob matches is not opened (it would block forever)."""
    (tmp_path / "a.csv").write_text(LEDGER)
    os.mkfifo(tmp_path / "b.csv")
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from contactguard.evidence import load_evidence; "
         "print(len(load_evidence([sys.argv[1]])))", str(tmp_path / "*.csv")],
        capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr


def test_a_chat_reached_by_two_spellings_is_read_once(tmp_path: Path) -> None:
    """The same export named directly and through "sub/.." counts as one export: its
    messages are read once (the one-to-one rule sees one chat)."""
    (tmp_path / "sub").mkdir()
    chat = tmp_path / "WhatsApp Chat with Anna.txt"
    chat.write_text(CHAT)
    records = list(iter_records([chat, tmp_path / "sub" / ".." / chat.name],
                                SourceContext(me="Shop")))
    assert len(records) == 1


# --- terminal and CSV sanitisers ---------------------------------------------------------------

HOSTILE = ["\x1b]0;pwned\x07", "\x1b[2J", "\x9b31m", "\u202eevil", "a\u2028b", "\x00", "\x08",
           "\u2066x\u2069", "\ud800"]


@given(text=st.text(st.characters(codec=None), max_size=30)
       | st.lists(st.sampled_from(HOSTILE) | st.text(max_size=3), max_size=6).map("".join))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_terminal_safe_leaves_no_control_or_layout_character(text: str) -> None:
    """After terminal_safe nothing that moves the cursor, reverses text or breaks a line is
    left, and the text still encodes as UTF-8."""
    safe = terminal_safe(text)
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                         "\u200e\u200f\u061c\ud800-\udfff]", safe)
    safe.encode("utf-8")
    assert len(safe) >= len(text)
    lines = terminal_lines(text)
    assert lines.count("\n") == text.count("\n")


@given(text=st.lists(st.sampled_from(HOSTILE) | st.text(max_size=3), max_size=6).map("".join))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_csv_cells_carry_no_terminal_control(text: str) -> None:
    """A CSV cell keeps tab, CR and LF and loses every other control character."""
    cell = csv_cell(text)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\ud800-\udfff]", cell)
    assert cell.count("\n") == text.count("\n") and cell.count("\t") == text.count("\t")


def test_csv_output_cells_have_no_esc_bel_nul_or_c1(runner: CliRunner, tmp_path: Path) -> None:
    """A kept contact's name and note with ESC, BEL, NUL and C1 controls come out of the CSV
    writer without them (the rest of the text stays)."""
    (tmp_path / "ledger.csv").write_text(LEDGER)
    book = tmp_path / "b.vcf"
    book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:An\x1b[31mna\x07\x9b\r\n"
                    "NOTE:x\x1b]0;t\x07y\r\nTEL:+4917012345678\r\nEND:VCARD\r\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(main, ["sanitize", str(book), "-e", str(tmp_path / "ledger.csv"),
                                  "-o", str(out), "-f", "csv", "--keep-field", "NOTE", "-q"])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert not re.search("[\x00\x07\x1b\x80-\x9f]", text)
    assert "An[31mna" in text and "x]0;ty" in text


def test_verbose_replaces_bidi_overrides_and_line_separators(
    runner: CliRunner, tmp_path: Path
) -> None:
    """--verbose shows a name with U+202E and U+2028 with both replaced: one line per contact,
    no text reversed."""
    (tmp_path / "ledger.csv").write_text(LEDGER)
    book = tmp_path / "b.csv"
    book.write_text("Name,Phone\nAnna\u202eevil\u2028fake line,+4917012345678\n")
    result = runner.invoke(main, ["sanitize", str(book), "-e", str(tmp_path / "ledger.csv"),
                                  "--dry-run", "-v", "-q"])
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.output and "\u2028" not in result.output
    assert "Anna\ufffdevil\ufffdfake line" in result.output


def test_evidence_inspect_and_show_print_no_terminal_sequences(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A sender name and a file name with an OSC title and a screen clear reach neither
    evidence inspect nor evidence show as escape sequences."""
    hostile = "Ann\x1b]0;pwned\x07a\x1b[2J"
    chat = tmp_path / "WhatsApp Chat with Anna.txt"
    chat.write_text(f"12/31/20, 23:59 - {hostile}: hi\n12/31/20, 23:59 - Shop: hello\n")
    inspected = runner.invoke(main, ["evidence", "inspect", str(chat)])
    assert inspected.exit_code == 0, inspected.output
    assert "Ann" in inspected.output
    assert "\x1b" not in inspected.output and "\x07" not in inspected.output
    db = tmp_path / "e.db"
    runner.invoke(main, ["evidence", "import", str(chat), "--ledger", str(db), "--me", "Shop"])
    shown = runner.invoke(main, ["evidence", "show", "--ledger", str(db)])
    assert shown.exit_code == 0 and "Ann" in shown.output
    assert "\x1b" not in shown.output and "\x07" not in shown.output


def test_error_messages_reach_the_terminal_sanitised(runner: CliRunner, tmp_path: Path) -> None:
    """An error naming a file whose name holds an escape sequence prints it replaced."""
    missing = tmp_path / "a\x1b]0;x\x07.vcf"
    result = runner.invoke(main, ["sanitize", str(missing), "-e", str(tmp_path)])
    assert result.exit_code != 0 and "\x1b" not in result.output


# --- numbers used as names ---------------------------------------------------------------------

NUMBER_NAMES = ["+49 171 2345678", "+4917123456 78", "0171/2345678", "(0171) 234-5678",
                "Call 0171 2345678 back"]


@pytest.mark.parametrize("fmt", ["json", "html", "verbose", "check"])
def test_a_removed_contact_named_by_its_number_is_masked_everywhere(
    runner: CliRunner, files: Path, fmt: str
) -> None:
    """A removed contact whose FN is its phone number shows the number masked in the JSON and
    HTML report, --verbose and check, as its number list does."""
    base = ["-e", str(files / "ledger.csv"), "--region", "DE"]
    if fmt == "check":
        result = runner.invoke(main, ["check", str(files / "book.vcf"), *base, "--json"])
        text = result.output
    elif fmt == "verbose":
        result = runner.invoke(main, ["sanitize", str(files / "book.vcf"), *base, "--dry-run",
                                      "-v"])
        text = result.output
    else:
        report = files / f"r.{fmt}"
        result = runner.invoke(main, ["sanitize", str(files / "book.vcf"), *base, "--dry-run",
                                      "-q", "--report", str(report)])
        assert result.exit_code == 0, result.output
        text = report.read_text(encoding="utf-8")
    digits = re.sub(r"\D", "", text)
    assert "2345678" not in digits.replace("4917012345678", "")
    assert "+49171*****78" in text  # the name, masked as its number is
    assert fmt == "check" or "Anna Schmidt" in text


@given(name=st.sampled_from(NUMBER_NAMES) | st.from_regex(
    r"\A[+(]?[1-9][0-9]{2}[ ./\-)]{0,2}[0-9]{3,4}[ ./\-]?[0-9]{3,5}\Z"))
@settings(max_examples=150, deadline=None, derandomize=True)
def test_masked_names_keep_no_run_of_the_number(name: str) -> None:
    """Whatever the spelling of a number used as a name, its masked form shows at most the
    country code, three digits after it and the last two."""
    masked = masked_name(name)
    digits = re.sub(r"\D", "", name)
    shown = re.sub(r"\D", "", masked)
    assert len(shown) <= min(len(digits), 8)
    assert masked_name(name, {"+" + digits}) == name


# --- ledger header -----------------------------------------------------------------------------

@given(column=st.sampled_from(["phone", "first_inbound_at", "first_outbound_at",
                               "last_inbound_at", "opted_out_at", "name", "user_id"]),
       case=st.sampled_from([str.lower, str.upper, str.title]),
       delimiter=st.sampled_from([",", ";", "\t"]))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_a_ledger_header_naming_a_column_twice_is_refused(
    column: str, case: Any, delimiter: str
) -> None:
    """A CSV ledger whose header names a known column twice (in any case) is an EvidenceError
    on line 1, whichever column and delimiter: the second copy is never silently ignored."""
    names = ["phone", "first_inbound_at"]
    names += [column] if column not in names else []
    names.append(case(column))
    values = ["+4917012345678", "2026-01-02"] + ["2026-01-01"] * (len(names) - 2)
    data = (delimiter.join(names) + "\n" + delimiter.join(values) + "\n").encode()
    with pytest.raises(EvidenceError, match=rf"l\.csv:1: .*{column}.* twice"):
        list(ledger.read_csv(io.BytesIO(data), "l.csv"))


def test_a_business_first_person_is_not_kept_through_a_duplicated_column(
    tmp_path: Path
) -> None:
    """first_outbound_at twice, the second saying the business wrote first: refused, not
    read as inbound-first."""
    path = tmp_path / "l.csv"
    path.write_text("phone,first_inbound_at,first_outbound_at,first_outbound_at\n"
                    "+4917012345678,2026-01-02,,2026-01-01\n")
    with pytest.raises(EvidenceError, match="first_outbound_at twice"):
        load_evidence([path])


# --- sync: state file, source cache, secrets ---------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=8,
)


@st.composite
def state_files(draw: st.DrawFn) -> Any:
    """A state file of the right version and target whose card entries have random shapes."""
    keys = st.sampled_from(["uid", "etag", "source_hash", "read_hash", "other"])
    entry = json_values | st.dictionaries(keys, json_values, max_size=5)
    return draw(st.dictionaries(st.text(max_size=20), entry, max_size=4))


@pytest.mark.radicale
def test_state_entries_of_a_wrong_shape_are_ignored_every_run(
    radicale: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Generated state files whose entries are valid JSON of another shape end in the same
    run as no state: every card fetched and compared, nothing changed, no traceback."""
    from test_sync import Setup

    from contactguard.sync import STATE_VERSION, load_config

    monkeypatch = pytest.MonkeyPatch()
    setup = Setup(radicale, tmp_path_factory.mktemp("sync"), monkeypatch)
    try:
        assert setup.run().counts()["created"] == 2
        config = load_config(setup.config)
        good = json.loads(config.state.read_text())

        @settings(max_examples=8, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(cards=state_files())
        def run(cards: Any) -> None:
            hrefs = list(good["cards"])
            shaped = {**{hrefs[i % len(hrefs)]: v for i, v in enumerate(cards.values())}}
            config.state.write_text(json.dumps({**good, "cards": shaped}))
            counts = setup.run().counts()
            assert counts["unchanged"] == 2 and counts["created"] == counts["deleted"] == 0

        run()
        assert good["version"] == STATE_VERSION
    finally:
        monkeypatch.undo()


@st.composite
def foreign_caches(draw: st.DrawFn) -> list[str]:
    """SQL that makes a file another program's (or version's) idea of a source cache."""
    columns = st.lists(st.sampled_from(["key", "value", "href", "etag", "data", "x", "blob"]),
                       min_size=1, max_size=4, unique=True)
    statements = []
    for table in draw(st.lists(st.sampled_from(["meta", "cards", "other"]), min_size=1,
                               max_size=3, unique=True)):
        statements.append(f"CREATE TABLE {table} ({', '.join(draw(columns))})")
    if draw(st.booleans()):
        statements.append("INSERT INTO meta (key, value) VALUES ('version', '1')"
                          if "meta" in " ".join(statements) else "SELECT 1")
    return statements


@PROPERTY
@given(statements=foreign_caches(), junk=st.binary(max_size=64))
def test_a_foreign_source_cache_is_rebuilt(
    tmp_path_factory: pytest.TempPathFactory, statements: list[str], junk: bytes
) -> None:
    """A cache file with another schema (generated tables and columns) or random bytes is
    thrown away and rebuilt: the cache then reads and writes."""
    import sqlite3

    from contactguard.sourcecache import SourceCache

    path = tmp_path_factory.mktemp("cache") / "source.sqlite"
    if junk and junk[0] % 3 == 0:
        path.write_bytes(junk)
    else:
        with sqlite3.connect(path) as db:
            for statement in statements:
                with contextlib.suppress(sqlite3.Error):
                    db.execute(statement)
        db.close()
    with SourceCache(path, "https://dav.example/book/") as cache:
        cache.update([("/book/a.vcf", '"1"', "BEGIN:VCARD\r\nEND:VCARD\r\n")], [])
        assert cache.etags() == {"/book/a.vcf": '"1"'}
        assert cache.texts() == {"/book/a.vcf": "BEGIN:VCARD\r\nEND:VCARD\r\n"}


def test_a_cache_with_the_right_meta_but_foreign_cards_table_is_rebuilt(tmp_path: Path) -> None:
    """A cache whose meta says this version and source but whose cards table has other
    columns (the case the old code kept, then failed on) is rebuilt."""
    import sqlite3

    from contactguard.sourcecache import CACHE_VERSION, SourceCache

    path = tmp_path / "source.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE cards (href TEXT, etag TEXT)")
        db.executemany("INSERT INTO meta VALUES (?, ?)",
                       [("version", CACHE_VERSION), ("source", "https://dav.example/book/")])
    db.close()
    with SourceCache(path, "https://dav.example/book/") as cache:
        assert cache.rebuilt
        assert cache.texts() == {}


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "t\u00f6ken", "a b"])
def test_a_bad_token_is_one_line_and_never_in_the_exception_chain(token: str) -> None:
    """A token with CR/LF inside, a space or a non-ASCII letter is refused before any request,
    and neither the message nor any exception in its chain holds the token."""
    from contactguard.carddav import Credentials

    secret = token.strip("\r\n")
    with pytest.raises(ConfigError) as caught:
        Credentials(token=secret)
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert all(secret not in str(e) and secret not in repr(e) for e in chain)
    assert "\n" not in str(caught.value)


def test_a_crlf_environment_token_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token from an EnvironmentFile with CRLF ends loses its CR, as a token file's line
    end is lost."""
    from contactguard.syncconfig import Endpoint, secret

    monkeypatch.setenv("CG_TOKEN", "abc123\r")
    assert secret(Endpoint(url="https://x/", token_env="CG_TOKEN"), "token", "target") == "abc123"


@pytest.mark.parametrize("data", [b"caf\xe9\n", b"\xff\xfe\x00p"])
def test_a_password_file_that_is_not_utf8_is_one_line(tmp_path: Path, data: bytes) -> None:
    """A password file that is not UTF-8 is a ConfigError naming the section, key and file."""
    from contactguard.syncconfig import Endpoint, secret

    path = tmp_path / "pw"
    path.write_bytes(data)
    path.chmod(0o600)  # a readable secret file would be refused first
    with pytest.raises(ConfigError, match=r"pw: \[target\] password_file is not UTF-8 text"):
        secret(Endpoint(url="https://x/", password_file=path), "password", "target")


# --- the HTML report on the quick path ----------------------------------------------------------

def _html_rows(book: Path, evidence: Any, quick: bool, tmp_path: Path) -> str:
    from contactguard.pipeline import Sanitizer
    from contactguard.policy import Policy

    sanitizer = Sanitizer(evidence, Policy(region="DE"), ReadOptions())
    report = tmp_path / f"report-{quick}.html"
    with mock.patch.object(_workers, "PARALLEL_MIN_BYTES", 0), \
            mock.patch.object(_workers, "CHUNK_BYTES", 4096):
        sanitizer.run([book], jobs=2, report=report,
                      on_decision=None if quick else (lambda decision: None))
    page = report.read_text(encoding="utf-8")
    return page[page.index("<tbody>"):]


@pytest.mark.parametrize("book", sorted((TESTS.parent / "samples").glob("*.vcf"))
                         + sorted((TESTS.parent / "samples").glob("*.csv")), ids=str)
def test_the_html_report_from_rendered_entries_is_the_html_report_of_decisions(
    book: Path, tmp_path: Path
) -> None:
    """The HTML report built from the entries workers render (the fast path) has exactly the
    rows the HTML report built from every Decision has."""
    evidence = load_evidence([TESTS.parent / "samples" / "ledger.csv"])
    assert _html_rows(book, evidence, True, tmp_path) == _html_rows(
        book, evidence, False, tmp_path)


@pytest.mark.radicale
def test_the_sync_dry_run_plan_prints_no_terminal_sequence(
    radicale: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner
) -> None:
    """A card on the phone whose UID holds an OSC title, a screen clear and U+202E shows in
    the --dry-run plan with them replaced."""
    from test_sync import Setup, card

    setup = Setup(radicale, tmp_path, monkeypatch)
    hostile = "leak\x1b]0;pwned\x07-\x1b[2J\u202e1"
    setup.server.put_card("phone1", setup.target_book, "leak",
                          card(hostile, "Lea Leak", "+4917099"))
    result = runner.invoke(main, ["sync", "--config", str(setup.config), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "delete <leak" in result.output
    assert not re.search("[\x1b\x07\u202e]", result.output)


ALL_FIELDS = ["FN", "N", "ORG", "NOTE", "EMAIL", "TITLE", "ADR", "item1.X-ABLabel"]
controls = st.lists(st.sampled_from([*HOSTILE, "\x1b", "\x07", "\x85", "\x9d", "\u2029"])
                    | st.text(alphabet="Ab ;,:\\", max_size=3), min_size=1, max_size=5).map("".join)


@PROPERTY
@given(values=st.fixed_dictionaries(dict.fromkeys(ALL_FIELDS, controls)),
       fmt=st.sampled_from(["csv", "vcard4"]))
def test_control_characters_in_every_text_field_reach_no_output_raw(
    tmp_path_factory: pytest.TempPathFactory, values: dict[str, str], fmt: str
) -> None:
    """Control and layout characters generated into every text field of a kept card reach
    neither the CSV book, nor --verbose, nor the check output raw; the vCard output holds
    no C0 control but its line ends."""
    folder = tmp_path_factory.mktemp("fields")
    escaped = {k: v.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
               for k, v in values.items()}
    lines = [f"{name}:{escaped[name]}" for name in ALL_FIELDS if name not in ("N", "ADR")]
    lines += [f"N:{escaped['N']};x;;;", f"ADR:;;{escaped['ADR']};;;;",
              "item1.TEL:+4917012345678"]
    book = folder / "b.vcf"
    book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\n" + "\r\n".join(lines) + "\r\nEND:VCARD\r\n",
                    encoding="utf-8", errors="surrogatepass")
    (folder / "l.csv").write_text(LEDGER)
    runner = CliRunner()
    keep = [a for f in ("ORG", "NOTE", "EMAIL", "TITLE", "ADR") for a in ("--keep-field", f)]
    out = folder / f"out.{fmt}"
    result = runner.invoke(main, ["sanitize", str(book), "-e", str(folder / "l.csv"), "-o",
                                  str(out), "-f", fmt, "-v", *keep])
    assert result.exit_code == 0, result.output
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]",
                         result.output.replace("\n", ""))
    text = out.read_bytes().decode("utf-8", "surrogateescape")
    if fmt == "csv":
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", text)
    else:
        assert not re.search("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]", text)
    checked = runner.invoke(main, ["check", str(book), "-e", str(folder / "l.csv")])
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]",
                         checked.output.replace("\n", ""))


@given(key=st.sampled_from(["phone", "first_inbound_at", "first_outbound_at", "opted_out_at",
                            "name", "other"]),
       values=st.lists(st.none() | st.sampled_from(["2026-01-01", "+4917012345678"]),
                       min_size=2, max_size=3))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_a_jsonl_ledger_object_naming_a_key_twice_is_refused(
    key: str, values: list[str | None]
) -> None:
    """A JSONL ledger line whose object names a key twice is refused with file and line, as a
    CSV header naming a column twice is (json would keep the last copy silently)."""
    pairs = [("phone", "+4917012345678"), ("first_inbound_at", "2026-01-02")]
    pairs = [(k, v) for k, v in pairs if k != key] + [(key, v) for v in values]
    line = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}\n"
    with pytest.raises(EvidenceError, match=rf"l\.jsonl:1: the object names the key '{key}'"):
        list(ledger.read_jsonl(io.BytesIO(line.encode()), "l.jsonl"))


@PROPERTY
@given(body=st.binary(max_size=5000) | st.text(max_size=3000).map(str.encode)
       | st.integers(1, 300_000).map(lambda n: (CHAT * (n // len(CHAT) + 1))[:n].encode()),
       method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
       level=st.integers(0, 9), chunk=st.integers(1, 70_000))
def test_the_zip_opener_reads_what_zipfile_reads(
    tmp_path_factory: pytest.TempPathFactory, body: bytes, method: int, level: int, chunk: int
) -> None:
    """For honest archives (stored or deflated at any level, read in any chunk size) the
    opener returns exactly the member's bytes, and counts them."""
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", method, compresslevel=level) as archive:
        archive.writestr("IMG-1.jpg", b"\xff\xd8" * 7)
        archive.writestr(CHAT_NAME, body)
    path = tmp_path_factory.mktemp("zip") / "export.zip"
    path.write_bytes(stream.getvalue())
    with _zip.open_zip(path) as archive:
        info = next(i for i in archive.infolist() if i.filename == CHAT_NAME)
        with archive.open(info) as member:
            got = b"".join(iter(lambda: member.read(chunk), b""))
        assert archive.inflated == len(body)
    assert got == body


def test_a_stored_member_declared_deflated_is_a_clear_error(tmp_path: Path) -> None:
    """A stored member whose directory entry says "deflated" fails to inflate: one line naming
    the member, not a zlib error."""
    path = chat_zip(tmp_path / "m.zip", CHAT, method=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    data[central(data) + 10:central(data) + 12] = struct.pack("<H", zipfile.ZIP_DEFLATED)
    path.write_bytes(bytes(data))
    with pytest.raises(EvidenceError, match=rf"{CHAT_NAME}: damaged \(Error -3"):
        chats.read_chat(path)
