"""README.md runs: every command and Python snippet in it, with the output it shows.

The parser reads the fenced blocks of README.md and docs/*.md and honours these conventions
(the README's HTML comments, invisible on the rendered page):

- ```` ```sh ```` / ```` ```bash ````: commands, one per line (``\\`` continues a line, ``# …``
  ends it); ``VAR=value cmd`` and ``export VAR=value`` set variables, ``cmd > FILE`` writes the
  output to FILE, ``eval "$(cmd)"`` runs ``cmd``. Each command exits 0, or with the status an
  ``<!-- exit: N -->`` comment right before the block names.
- ```` ```console ````: ``$ command`` lines, each followed by the output it prints.
- ```` ```text ```` after ``<!-- output -->``: what the last command before it prints.
- ```` ```json ```` after ``<!-- excerpt of: FILE -->``: every key and list item it shows is in
  FILE as the commands before it left it (``"...": …`` stands for keys left out; a list shows
  its first items).
- ```` ```python ````: run as it is, in the same folder as the commands.
- ``<!-- not run: REASON -->`` before a block: not run (its ``contactguard`` commands are still
  checked against the command tree). Few, each with its reason.
- ``<!-- synopsis -->`` before a ```` ```text ```` block: the command-line reference. Every
  option of every command must be listed there, and nothing else.
- An untagged fence is refused in README.md: each block says what it is.

The commands run as a newcomer types them, in README order, in one temporary folder per module
(a copy of ``samples/`` plus the files the README names, made up here: ``export.vcf`` and the
phone's books are the sample company book, ``ledger.csv`` the sample ledger, ``exports/`` the
sample chats, ``hooks/`` webhook archives, an Android ``msgstore.db.crypt15`` with its
``backup.key``, ``wa.db.crypt15``, an iPhone backup folder under ``~``). A ``…`` that stands for a
secret is the made-up one (``PLACEHOLDERS``); the CRM's HTTPS server is an HTTP transport that
serves the sample ledger to the right bearer token. Shown output is compared after one
normalisation: the folder's path is dropped (``~`` for the made-up home) and trailing blanks
are ignored; the clock is fixed at ``NOW`` so that ``--max-age`` decides as the README shows.
Commands run in this process through click's test runner (fast), not in a shell.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import shlex
import shutil
import sqlite3
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from phone_databases import (
    ChatStorage,
    Msgstore,
    contacts_v2,
    crypt15_aes_key,
    encrypt_backup,
    finder_backup,
)

from contactguard.evidence.ios import BUSINESS_DOMAIN

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
BACKUP_KEY = bytes(range(64, 96))  # a made-up 64-digit key
TOKEN = "made-up-crm-token"  # made up: the CRM stand-in serves only this one
PLACEHOLDERS = {"CONTACTGUARD_BACKUP_KEY": BACKUP_KEY.hex(), "CONTACTGUARD_EVIDENCE_TOKEN": TOKEN}
RUN = ("sh", "bash", "console")
NOT_RUN = ("text", "toml", "ini", "json", "csv", "crontab")


def cli() -> click.Command:
    """The ``contactguard`` command as installed (the package's entry point)."""
    (point,) = (e for e in entry_points(group="console_scripts") if e.name == "contactguard")
    command = point.load()
    assert isinstance(command, click.Command)
    return command


# -- the parser -------------------------------------------------------------------------------


@dataclass
class Block:
    """One fenced block: where it is, its language, its text and the comments before it."""

    file: str
    line: int
    lang: str
    text: str
    marks: dict[str, str] = field(default_factory=dict)
    section: str = ""

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


_FENCE = re.compile(r"^( *)(`{3,})(\S*)[ \t]*$")
_MARK = re.compile(r"<!--\s*([\w -]+?)\s*(?::\s*(.*?))?\s*-->")


def parse_blocks(text: str, file: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with the ``<!-- … -->`` marks right before each
    (blank lines between are allowed) and the ``##`` section each is in."""
    blocks: list[Block] = []
    lines = text.splitlines()
    marks: dict[str, str] = {}
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence is None:
            found = _MARK.fullmatch(line.strip())
            if found:
                marks[found.group(1).strip()] = (found.group(2) or "").strip()
            elif line.strip():
                marks = {}
            if line.startswith("## "):
                section = line[3:].strip()
            i += 1
            continue
        indent, ticks, lang = fence.group(1), fence.group(2), fence.group(3)
        where = i + 1  # the fence's line, 1-based
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != ticks:
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        blocks.append(Block(file, where, lang, "\n".join(body) + "\n", marks, section))
        marks = {}
        i += 1
    return blocks


def all_blocks() -> list[Block]:
    found: list[Block] = []
    for path in DOCS:
        found += parse_blocks(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    return found


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """The commands of a shell block, each with the output lines a console block shows."""
    out: list[tuple[str, list[str]]] = []
    pending = ""
    for raw in block.text.splitlines():
        if block.lang == "console":
            if raw.startswith("$ "):
                out.append((raw[2:], []))
            elif out:
                out[-1][1].append(raw)
            elif raw.strip():
                raise AssertionError(f"{block.id}: console output before any `$ ` command")
            continue
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line.strip() and not line.strip().startswith("#"):
            out.append((line.strip(), []))
    return out


def words(command: str) -> list[str]:
    """A command line split as the shell splits it (``# …`` comments dropped)."""
    return shlex.split(command, comments=True)


# -- the made-up world the commands run in ----------------------------------------------------


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)


def webhook(field_name: str, value: dict[str, Any]) -> str:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": "102030405060708", "changes": [{"field": field_name, "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4930123456",
                         "phone_number_id": "110200300400500"},
            **value}}]}]}) + "\n"


def build_world(folder: Path) -> Path:
    """The folder a newcomer runs the README in; returns the made-up home folder."""
    shutil.copytree(ROOT / "samples", folder / "samples")
    for name in ("export.vcf", "phone.vcf", "phone-export.vcf"):
        shutil.copy(ROOT / "samples" / "company-book.vcf", folder / name)
    shutil.copy(ROOT / "samples" / "ledger.csv", folder / "ledger.csv")
    shutil.copytree(ROOT / "samples" / "chats", folder / "exports")
    shutil.copytree(ROOT / "samples" / "chats", folder / "chats")
    hooks = folder / "hooks"
    hooks.mkdir()
    # Bernd Keller writes first through the Cloud API; Carla Weber gets a template first
    (hooks / "2026-11.jsonl").write_text(
        webhook("messages", {
            "contacts": [{"profile": {"name": "Bernd"}, "wa_id": "4917098765402"}],
            "messages": [{"from": "4917098765402", "id": "wamid.B1", "timestamp": "1793786400",
                          "type": "text", "text": {"body": "Hallo"}}]})
        + webhook("messages", {"statuses": [{"id": "wamid.T1", "status": "sent",
                                             "timestamp": "1793700000",
                                             "recipient_id": "4916090123404"}]}))
    # the app's contact list: Anna Schmidt, and somebody nobody has evidence for
    (hooks / "state-sync.jsonl").write_text("".join(
        webhook("smb_app_state_sync", {"state_sync": [{
            "type": "contact", "action": "add",
            "contact": {"full_name": name, "first_name": name.split()[0], "phone_number": number},
            "metadata": {"timestamp": "1793786400"}}]})
        for name, number in (("Anna Schmidt", "4915123456701"), ("Max Fremd", "4917600000001"))))
    # Android: Elif Yilmaz wrote first; Dieter Braun was written to first; a LID chat for
    # Tobias Wolf; a group
    key = folder / "backup.key"
    key.write_text(" ".join(BACKUP_KEY.hex()[i:i + 4] for i in range(0, 64, 4)) + "\n")
    key.chmod(0o600)
    db = Msgstore(folder / "msgstore.db")
    elif_chat = db.chat(db.jid("4917612345606"))
    db.message(elif_chat, False, at("2026-10-01"))
    db.message(elif_chat, True, at("2026-10-02"))
    dieter = db.chat(db.jid("4915780012305"))
    db.message(dieter, True, at("2026-09-01"))
    db.message(dieter, False, at("2026-09-02"))
    tobias_lid = db.jid("123456789012345", "lid")
    db.map_lid(tobias_lid, db.jid("4915733445566"))
    db.message(db.chat(tobias_lid), False, at("2026-10-05"))
    db.message(db.chat(db.jid("4915199900000-1600000000", "g.us")), False, at("2026-10-06"))
    plain = db.close()
    aes = crypt15_aes_key(BACKUP_KEY)
    (folder / "msgstore.db.crypt15").write_bytes(encrypt_backup(plain.read_bytes(), aes))
    plain.unlink()
    wa = sqlite3.connect(folder / "wa.db")
    wa.execute("CREATE TABLE wa_contacts (_id INTEGER PRIMARY KEY AUTOINCREMENT, jid TEXT NOT NULL,"
               " is_whatsapp_user BOOLEAN NOT NULL, number TEXT, raw_contact_id INTEGER,"
               " display_name TEXT, given_name TEXT, family_name TEXT, wa_name TEXT)")
    wa.executemany("INSERT INTO wa_contacts (jid, is_whatsapp_user, number, raw_contact_id,"
                   " display_name) VALUES (?, 1, ?, ?, ?)",
                   [("4917612345606@s.whatsapp.net", "+4917612345606", 1, "Elif Yilmaz"),
                    ("4917600000001@s.whatsapp.net", "+4917600000001", 2, "Max Fremd")])
    wa.commit()
    wa.close()
    (folder / "wa.db.crypt15").write_bytes(encrypt_backup((folder / "wa.db").read_bytes(), aes))
    (folder / "wa.db").unlink()
    # iPhone: Petra Klein wrote first; the app's contacts hold her and a stranger
    home = folder / "home"
    backup = home / "Library" / "Application Support" / "MobileSync" / "Backup" / "00008110-…"
    chats = ChatStorage(folder / "ChatStorage.sqlite")
    petra = chats.session("491605556667@s.whatsapp.net")
    chats.message(petra, False, at("2026-10-10"))
    chats.message(petra, True, at("2026-10-11"))
    contacts = contacts_v2(folder / "ContactsV2.sqlite",
                           [(None, "491605556667@s.whatsapp.net"),
                            (None, "4917600000001@s.whatsapp.net")])
    finder_backup(backup, chats.close(), domain=BUSINESS_DOMAIN, contacts=contacts)
    (folder / "ChatStorage.sqlite").unlink()
    (folder / "ContactsV2.sqlite").unlink()
    (home / ".config" / "fish" / "completions").mkdir(parents=True)
    return home


def crm_transport() -> httpx.MockTransport:
    """The CRM's HTTPS server: the sample ledger, for the right bearer token only."""
    body = (ROOT / "samples" / "ledger.csv").read_bytes()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401)
        return httpx.Response(200, content=body, headers={"content-type": "text/csv"})

    return httpx.MockTransport(handle)


# -- running ----------------------------------------------------------------------------------


@dataclass
class Ran:
    """One command as run: its words, exit status and output (stdout and stderr as seen)."""

    command: str
    status: int
    output: str
    expected: list[str]


class Shell:
    """Runs a block's commands in the world folder, as the README shows them."""

    def __init__(self, folder: Path, home: Path) -> None:
        self.folder, self.home = folder, home
        self.runner = CliRunner()
        self.command = cli()
        self.env: dict[str, str | None] = {"HOME": str(home), "NO_COLOR": "1",
                                           "CONTACTGUARD_BACKUP_KEY": None,
                                           "CONTACTGUARD_EVIDENCE_TOKEN": None}

    def expand(self, word: str) -> str:
        return str(self.home) + word[1:] if word == "~" or word.startswith("~/") else word

    def value(self, name: str, text: str) -> str:
        return PLACEHOLDERS[name] if text == "…" else text

    def run(self, line: str) -> tuple[int, str]:
        """Run one command line; returns (exit status, output)."""
        evaluated = re.fullmatch(r'eval "\$\((.*)\)"(\s*#.*)?', line)
        if evaluated:
            status, output = self.run(evaluated.group(1))
            assert output.strip(), f"{line}: printed nothing to evaluate"
            return status, ""
        argv = [self.expand(w) for w in words(line)]
        if argv[:1] == ["export"]:
            for assignment in argv[1:]:
                name, _, text = assignment.partition("=")
                self.env[name] = self.value(name, text)
            return 0, ""
        env = dict(self.env)
        while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
            name, _, text = argv.pop(0).partition("=")
            env[name] = self.value(name, text)
        target = None
        if ">" in argv:
            at_ = argv.index(">")
            argv, target = argv[:at_], argv[at_ + 1]
        if not argv or argv[0] != "contactguard":
            raise AssertionError(f"{line!r}: only contactguard commands run here")
        result = self.runner.invoke(self.command, argv[1:], env=env, prog_name="contactguard",
                                    catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"{line!r} raised {result.exception!r}") from result.exception
        if target is not None:
            Path(target).write_text(result.stdout)
            return result.exit_code, result.stderr
        return result.exit_code, result.output

    def normalise(self, text: str) -> list[str]:
        text = text.replace(str(self.home), "~").replace(str(self.folder) + os.sep, "")
        lines = [line.rstrip() for line in text.replace(str(self.folder), ".").splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        return lines


@dataclass
class World:
    folder: Path
    shell: Shell
    ran: dict[str, list[Ran]]
    files: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Every runnable block of the docs run once, in order, in one made-up folder."""
    folder = tmp_path_factory.mktemp("newcomer")
    home = build_world(folder)
    shell = Shell(folder, home)
    ran: dict[str, list[Ran]] = {}
    files: dict[str, dict[str, Any]] = {}
    from contactguard.evidence import remote
    from contactguard.policy import Policy

    fetch = functools.partial(remote.fetch_records, transport=crm_transport())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setattr(Policy, "clock", lambda self: NOW if self.now is None else self.now)
        patch.setattr(remote, "fetch_records", fetch)
        for block in all_blocks():
            if "not run" in block.marks:
                continue
            if "excerpt of" in block.marks:
                files[block.id] = json.loads((folder / block.marks["excerpt of"]).read_text())
            if block.lang == "python":
                ran[block.id] = [run_python(block)]
            elif block.lang in RUN:
                ran[block.id] = run_block(block, shell)
    yield World(folder, shell, ran, files)


def run_block(block: Block, shell: Shell) -> list[Ran]:
    out = []
    for written, expected in commands(block):
        line = setup_command(written) if block.section == "Set-up" else written
        if line is None:
            continue
        try:
            status, output = shell.run(line)
        except AssertionError as exc:  # this block's test reports it; the others still run
            status, output = -1, f"could not run: {exc}"
        out.append(Ran(line, status, output, expected))
    return out


def run_python(block: Block) -> Ran:
    """A Python block run as it is; an exception is its result (status 1, the traceback)."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(block.text, block.id, "exec"), {"__name__": "__readme__"})
    except Exception:  # reported by this block's test, not by the fixture
        return Ran(block.text, 1, traceback.format_exc(), [])
    return Ran(block.text, 0, printed.getvalue(), [])


def setup_command(line: str) -> str | None:
    """The ``contactguard …`` part of a set-up line (``… && .venv/bin/contactguard …``), or
    None for the test command (it is .ci/run's, not run here: it would recurse)."""
    last = line.split(" && ")[-1]
    if last.startswith(".venv/bin/contactguard "):
        return last.removeprefix(".venv/bin/")
    return None


# -- the tests --------------------------------------------------------------------------------


BLOCKS = all_blocks()
RUNNABLE = [b for b in BLOCKS if "not run" not in b.marks and b.lang in (*RUN, "python")]
OUTPUTS = [b for b in BLOCKS if "output" in b.marks]
EXCERPTS = [b for b in BLOCKS if "excerpt of" in b.marks]


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs_and_prints_what_it_shows(world: World, block: Block) -> None:
    """Each command of the block exits as the README says and prints the output it shows."""
    status = int(block.marks.get("exit", "0") or 0)
    for ran in world.ran[block.id]:
        assert ran.status == status, f"{ran.command!r} exited {ran.status}:\n{ran.output}"
        if block.lang == "console":
            assert world.shell.normalise(ran.output) == [line.rstrip() for line in ran.expected]


@pytest.mark.parametrize("block", OUTPUTS, ids=[b.id for b in OUTPUTS])
def test_output_block_is_what_the_command_before_prints(world: World, block: Block) -> None:
    """An ``<!-- output -->`` block equals what the last command run before it printed."""
    before = [b for b in RUNNABLE if b.file == block.file and b.line < block.line]
    assert before, f"{block.id}: no command before this output"
    ran = world.ran[before[-1].id][-1]
    assert world.shell.normalise(ran.output) == [
        line.rstrip() for line in block.text.rstrip("\n").splitlines()]


def contains(shown: Any, actual: Any, where: str = "") -> None:
    """``shown`` is an excerpt of ``actual``: its keys and first list items, equal."""
    if isinstance(shown, dict):
        assert isinstance(actual, dict), f"{where}: not an object"
        for key, value in shown.items():
            if key != "...":
                assert key in actual, f"{where}.{key}: not in the file"
                contains(value, actual[key], f"{where}.{key}")
    elif isinstance(shown, list):
        assert isinstance(actual, list) and len(actual) >= len(shown), f"{where}: list"
        for index, item in enumerate(shown):
            contains(item, actual[index], f"{where}[{index}]")
    else:
        assert shown == actual, f"{where}: the README shows {shown!r}, the file holds {actual!r}"


@pytest.mark.parametrize("block", EXCERPTS, ids=[b.id for b in EXCERPTS])
def test_excerpt_is_in_the_file_it_names(world: World, block: Block) -> None:
    """A shown excerpt (the audit report) holds what the run before it wrote."""
    contains(json.loads(block.text), world.files[block.id])


SYNC_CONFIGS = [b for b in BLOCKS if b.lang == "toml" and "[source]" in b.text]


@pytest.mark.parametrize("block", SYNC_CONFIGS, ids=[b.id for b in SYNC_CONFIGS])
def test_sync_config_example_loads(world: World, block: Block) -> None:
    """Each sync config the README shows is a valid config (in the folder the commands left)."""
    from contactguard.syncconfig import load_configs

    path = world.folder / f"readme-{block.line}.toml"
    path.write_text(block.text)
    configs = load_configs(path)
    assert configs and all(c.file == path for c in configs)


@settings(max_examples=60, deadline=None)
@given(shown=st.recursive(st.integers(0, 3) | st.sampled_from(["a", "b"]),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.sampled_from(["x", "y", "z"]), inner, max_size=3),
                          max_leaves=8),
       extra=st.integers(0, 3))
def test_excerpt_check_finds_every_change(shown: Any, extra: int) -> None:
    """The excerpt check accepts a value against itself and refuses it against a changed copy."""
    contains(shown, shown)
    if isinstance(shown, dict) and shown:
        changed = dict(shown)
        changed.pop(next(iter(changed)))
        with pytest.raises(AssertionError):
            contains(shown, changed)
    elif not isinstance(shown, (dict, list)):
        with pytest.raises(AssertionError):
            contains(shown, [shown] if extra else f"{shown}!")


def test_setup_has_exactly_two_commands_and_ci_runs_the_second() -> None:
    """Two set-up commands; the first runs on the samples, the second is .ci/run's command."""
    setup = [b for b in BLOCKS if b.file == "README.md" and b.section == "Set-up"
             and b.lang in RUN]
    lines = [line for b in setup for line, _ in commands(b)]
    assert len(setup) == 2 and len(lines) == 2, lines
    assert setup_command(lines[0]) is not None and setup_command(lines[1]) is None
    assert lines[1].endswith(" && .venv/bin/python -m pytest -n 2")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[1] in ci, ".ci/run must run the README's test command as it is"


def test_every_fence_says_what_it_is() -> None:
    """No untagged fence in README.md: every block is run, compared, or says why not."""
    readme = [b for b in BLOCKS if b.file == "README.md"]
    untagged = [b.id for b in readme if not b.lang]
    unknown = [b.id for b in readme if b.lang and b.lang not in (*RUN, "python", *NOT_RUN)]
    assert untagged == [] and unknown == []
    reasons = [b.marks["not run"] for b in readme if "not run" in b.marks]
    assert all(reasons) and len(reasons) <= 4, reasons


def test_parser_reads_marks_indents_and_console_blocks() -> None:
    """The parser honours marks, indented fences, continuations and console output."""
    text = ("## A\n<!-- exit: 3 -->\n\n```sh\ncontactguard a \\\n  --b  # c\n# d\n```\n"
            "- item\n\n  ```console\n  $ contactguard x\n  out\n  ```\n<!-- not run: why -->\n"
            "```sh\nrm -rf /\n```\n")
    first, second, third = parse_blocks(text, "X.md")
    assert (first.marks, first.section, first.line) == ({"exit": "3"}, "A", 4)
    assert commands(first) == [("contactguard a    --b  # c", [])]
    assert commands(second) == [("contactguard x", ["out"])] and second.marks == {}
    assert third.marks == {"not run": "why"}


_WORD = st.text("abcxyz-./=:0123456789", min_size=1, max_size=8).filter(
    lambda w: not w.startswith("#"))


@settings(max_examples=80, deadline=None)
@given(lines=st.lists(st.tuples(st.lists(_WORD, min_size=1, max_size=6),
                                st.lists(st.integers(1, 5), max_size=2),
                                st.booleans()), min_size=1, max_size=4),
       indent=st.sampled_from(["", "  ", "   "]), lang=st.sampled_from(["sh", "bash"]))
def test_parser_splits_generated_blocks_as_the_shell_would(
    lines: list[tuple[list[str], list[int], bool]], indent: str, lang: str
) -> None:
    """Generated blocks (continued lines, comments, indented fences): each command's words."""
    body = []
    for words_, breaks, comment in lines:
        text = ["contactguard", *words_]
        for cut in sorted({min(b, len(text) - 1) for b in breaks if b < len(text)}, reverse=True):
            text.insert(cut, "\\\n   ")
        joined = " ".join(text)
        body.append(joined + ("  # a comment" if comment else ""))
        body.append("# a line of its own")
    markdown = "\n".join(f"{indent}{line}" for line in
                         [f"```{lang}", *"\n".join(body).splitlines(), "```"]) + "\n"
    (block,) = parse_blocks(markdown, "X.md")
    assert [words(c) for c, _ in commands(block)] == [["contactguard", *w] for w, _, _ in lines]


# -- the command-line reference ---------------------------------------------------------------


def command_tree() -> dict[str, click.Command]:
    """Every command by its path (``contactguard evidence import``)."""
    found: dict[str, click.Command] = {}

    def walk(command: click.Command, path: str) -> None:
        found[path] = command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli(), "contactguard")
    return found


def locate(argv: list[str]) -> tuple[str, list[str]]:
    """The command path a ``contactguard …`` word list names, and the words after it."""
    tree = command_tree()
    path, rest = "contactguard", argv[1:]
    while rest and f"{path} {rest[0]}" in tree:
        path, rest = f"{path} {rest[0]}", rest[1:]
    return path, rest


_OPTION = re.compile(r"(?<![\w/.-])(--?[A-Za-z][\w-]*)")


def synopsis_lines() -> Iterator[tuple[str, str]]:
    """(command path, text) of each line of the synopsis blocks, the command words dropped."""
    current = None
    for block in BLOCKS:
        if "synopsis" not in block.marks:
            continue
        for line in block.text.splitlines():
            if line.startswith("contactguard"):
                current, rest = locate(line.split())
                line = " ".join(rest)
            if current is not None:
                yield current, line


def synopsis() -> dict[str, set[str]]:
    """The options the README's synopsis lists, per command path."""
    listed: dict[str, set[str]] = {}
    for path, line in synopsis_lines():
        listed.setdefault(path, set()).update(_OPTION.findall(line))
    return listed


def test_synopsis_choices_are_the_commands_choices() -> None:
    """An option shown with its choices (`--format vcard3|vcard4|csv`) lists exactly those."""
    tree = command_tree()
    problems = []
    for path, line in synopsis_lines():
        for option, shown in re.findall(r"(--[\w-]+) ([a-z0-9]+(?:\|[a-z0-9]+)+)\b", line):
            param = next(p for p in tree[path].params if option in getattr(p, "opts", ()))
            choices = getattr(param.type, "choices", None)
            if choices is None or set(shown.split("|")) != set(choices):
                problems.append(f"{path} {option}: shows {shown}, takes {choices}")
    assert problems == []


def test_synopsis_lists_every_option_of_every_command() -> None:
    """Each click command is in the synopsis with all its options, and no option it lacks."""
    listed = synopsis()
    problems = []
    for path, command in command_tree().items():
        if isinstance(command, click.Group) and path != "contactguard":
            continue
        names = {o for p in command.params if isinstance(p, click.Option)
                 for o in (*p.opts, *p.secondary_opts)}
        shown = listed.get(path)
        if shown is None:
            problems.append(f"{path}: not in the synopsis")
            continue
        for param in command.params:
            # an option is listed by any of its names (`-o` for --output)
            if isinstance(param, click.Option) and not set(param.opts) & shown:
                problems.append(f"{path}: {param.opts[-1]} is missing")
        problems += [f"{path}: {o} is no option of it" for o in sorted(shown - names)]
    assert problems == []


def invocations() -> Iterator[tuple[str, str]]:
    """(where, command line) of every ``contactguard …`` the docs show, in any block or in
    inline code."""
    for block in BLOCKS:
        if "synopsis" in block.marks or block.lang not in (*RUN, "crontab", "ini"):
            continue
        for number, line in enumerate(block.text.splitlines()):
            if block.lang == "ini" and not line.startswith("ExecStart="):
                continue
            found = re.search(r"(?:^|\s|bin/|\$\()(contactguard(?:\s.*)?)$", line)
            if found and not line.lstrip().startswith("#") and "[" not in found.group(1):
                command = re.split(r" (?:\||&&|>) ", found.group(1))[0]
                yield f"{block.id}+{number}", command.rstrip(")\"")
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for code in re.findall(r"`(contactguard [^`]+)`", line):
                if "[" not in code and "…" not in code.split()[1:2]:
                    yield f"{path.name}:{number}", code


def test_every_shown_command_parses() -> None:
    """Every contactguard command the docs show (run or not) names options that exist."""
    problems = []
    for where, line in invocations():
        try:
            argv = words(line)
        except ValueError:
            continue  # a fragment of prose
        path, rest = locate(argv)
        command = command_tree()[path]
        if isinstance(command, click.Group) and not rest:
            continue
        try:  # the option parser alone: no value is checked, no file opened
            command.make_parser(click.Context(command, info_name=path)).parse_args(list(rest))
        except click.NoSuchOption as exc:
            problems.append(f"{where}: {line}: {exc.format_message()}")
        except click.UsageError:
            pass  # a value left out in prose (`--ledger DB` shown as `--ledger`)
    assert problems == []


def test_synopsis_check_notices_a_missing_and_a_stale_option() -> None:
    """The synopsis check would fail for a dropped option and for one that no longer exists."""
    listed = synopsis()
    assert "--evidence" in listed["contactguard sanitize"]
    tree = command_tree()
    options = {o for p in tree["contactguard sanitize"].params for o in getattr(p, "opts", [])}
    assert "--no-such-option" not in options and "--evidence" in options
