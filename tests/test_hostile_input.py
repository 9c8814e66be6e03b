"""Hostile input, second round: bounded reading of long lines in pieces, zip archives whose
directory lies, file errors as one-line messages, terminal and CSV control characters, numbers
used as names — each class with made-up fixtures and a hypothesis generator for more of it."""

from __future__ import annotations

import io
import resource
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactguard import _zip
from contactguard.books import ReadOptions, chunks, read_book
from contactguard.errors import ContactguardError, EvidenceError
from contactguard.evidence import chats, load_evidence

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
    import sys
    from pathlib import Path
    from contactguard.evidence import load_evidence
    from contactguard.pipeline import Sanitizer
    path, fmt = Path(sys.argv[1]), sys.argv[2]
    with path.open("wb") as out:
        if fmt == "vcard":
            card = b"BEGIN:VCARD\\r\\nVERSION:3.0\\r\\nFN:Anna %d\\r\\nTEL:+49151234%05d\\r\\nEND:VCARD\\r\\n"
            rows = [card % (i, i) for i in range(40_000)]
            long_start, long_end = b"BEGIN:VCARD\\r\\nVERSION:3.0\\r\\nNOTE:", b"\\r\\nEND:VCARD\\r\\n"
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
        for _ in sanitizer.stream([str(path)], jobs=2, entries=True):
            pass
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
    saved = chunks._BLOCK, chunks._MIN_CHUNK
    chunks._BLOCK, chunks._MIN_CHUNK = block, 1
    try:
        cuts = list(plan.chunks())
    finally:
        chunks._BLOCK, chunks._MIN_CHUNK = saved
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
    saved = chunks._BLOCK, chunks._MIN_CHUNK
    chunks._BLOCK, chunks._MIN_CHUNK = block, 1
    try:
        cuts = list(plan.chunks())
    finally:
        chunks._BLOCK, chunks._MIN_CHUNK = saved
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
              (18, "<L"), (22, "<L")]
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
