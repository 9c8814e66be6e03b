"""The phone's WhatsApp database as evidence: 5 million messages in 20,000 chats.

    .venv/bin/python benchmarks/bench_phonedb.py              # 5M messages, best of 3
    .venv/bin/python benchmarks/bench_phonedb.py --cpu        # CPU seconds: on a busy machine
    .venv/bin/python benchmarks/bench_phonedb.py --messages 500000 --runs 1   # a quick look

Generates an Android ``msgstore.db`` (current schema, as the tests build it: 20,000 chats of
which every 20th is a group, a status chat, calls, LID chats with and without a ``jid_map``
entry, WhatsApp's notices and images among the texts) into benchmarks/out/, once, then measures
side by side in one run, alternating:

- the baseline: a bare SQL ``GROUP BY chat_row_id`` (first and last time, count) over the same
  file, fetched into Python, in this process;
- ``contactguard evidence import msgstore.db --ledger NEW`` as a subprocess (start-up, reading,
  and writing every identity into a new ledger), with its peak resident memory;
- the reader alone (``android.read`` in this process, records counted);
- the same database as a ``.crypt15`` backup: ``evidence import`` with the key (decryption to a
  private temporary file included).

Target: ``evidence import`` within 2 x the bare GROUP BY.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CLI = Path(sys.executable).parent / "contactguard"
sys.path.insert(0, str(HERE.parent / "tests"))

from measure import timed  # noqa: E402
from phone_databases import ANDROID_SCHEMA, crypt15_aes_key, encrypt_backup  # noqa: E402

from contactguard.evidence import android  # noqa: E402

CPU = False  # --cpu: CPU seconds (this process's, or the child's), for a busy machine
CHATS = 20_000
ROOT_KEY = bytes(range(32))
T0_MS = 1_600_000_000_000


def generate(path: Path, messages: int) -> None:
    """The database, built by SQLite itself (recursive CTEs): seconds, not minutes."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.executescript(ANDROID_SCHEMA)
    db.executescript(f"""
        PRAGMA journal_mode = OFF;
        PRAGMA synchronous = OFF;
        BEGIN;
        DROP INDEX message_sort_id_index;
        INSERT INTO jid (_id, user, server, agent, device, type, raw_string)
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {CHATS})
        SELECT i,
               CASE WHEN i % 20 = 0 THEN printf('4917%08d-1600000000', i)
                    WHEN i % 50 = 1 THEN printf('1%014d', i)
                    ELSE printf('4917%08d', i) END,
               CASE WHEN i % 20 = 0 THEN 'g.us' WHEN i % 50 = 1 THEN 'lid'
                    WHEN i = {CHATS - 1} THEN 'broadcast'
                    ELSE 's.whatsapp.net' END,
               0, 0, 0, NULL
          FROM n;
        UPDATE jid SET user = 'status' WHERE server = 'broadcast';
        -- phone jids for half of the LID chats, and the mapping
        INSERT INTO jid (user, server, agent, device, type)
        SELECT printf('4916%08d', _id), 's.whatsapp.net', 0, 0, 0 FROM jid
         WHERE server = 'lid' AND _id % 100 = 1;
        INSERT INTO jid_map (lid_row_id, jid_row_id)
        SELECT l._id, p._id FROM jid AS l JOIN jid AS p ON p.user = printf('4916%08d', l._id)
         WHERE l.server = 'lid';
        INSERT INTO chat (_id, jid_row_id, hidden, created_timestamp)
        SELECT _id, _id, 0, 0 FROM jid WHERE _id <= {CHATS};
        INSERT INTO message (chat_row_id, from_me, key_id, status, timestamp, message_type,
                             text_data, sort_id)
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {messages - 1})
        SELECT (i * 7919) % {CHATS} + 1,
               (i / {CHATS}) % 2,
               printf('3EB0%016X', i),
               CASE WHEN (i / {CHATS}) % 2 = 1 THEN 13 ELSE 0 END,
               {T0_MS} + i * 1000,
               CASE WHEN i % 97 = 0 THEN 7 WHEN i % 13 = 0 THEN 1 WHEN i % 211 = 0 THEN 15
                    ELSE 0 END,
               CASE WHEN i % 13 = 0 THEN NULL ELSE 'a made-up message of some length ' || i END,
               i
          FROM n;
        CREATE INDEX message_sort_id_index ON message (chat_row_id, sort_id);
        INSERT INTO call_log (jid_row_id, from_me, call_id, timestamp, video_call, duration,
                              call_result)
        SELECT _id, _id % 2, 'c', {T0_MS} - 1000, 0, 10, 5 FROM jid WHERE _id % 17 = 0;
        COMMIT;
    """)
    db.close()
    tmp.rename(path)


def clock() -> float:
    return time.process_time() if CPU else time.perf_counter()


def group_by(path: Path, indexed: bool = False) -> float:
    """The bare GROUP BY, by default in its fastest form (a scan sorted into groups, as the
    reader does; ``indexed``: the plan SQLite picks by itself, walking the chat index)."""
    start = clock()
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT chat_row_id, min(timestamp), max(timestamp), count(*) FROM message "
        + ("" if indexed else "NOT INDEXED ") + "GROUP BY chat_row_id"
    ).fetchall()
    db.close()
    assert len(rows) >= CHATS - 1
    return clock() - start


def reader(path: Path) -> float:
    start = clock()
    count = sum(1 for _record in android.read(str(path)))
    assert count > CHATS // 2
    return clock() - start


def evidence_import(path: Path, tag: str, env: dict[str, str] | None = None) -> tuple[float, int]:
    ledger = OUT / f"phonedb-ledger-{tag}.sqlite"
    ledger.unlink(missing_ok=True)
    result = timed([str(CLI), "evidence", "import", str(path), "--ledger", str(ledger)],
                   env=env, cpu=CPU)
    ledger.unlink(missing_ok=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpu", action="store_true",
                        help="CPU seconds instead of wall seconds (a machine shared with others)")
    args = parser.parse_args()
    global CPU
    CPU = args.cpu
    OUT.mkdir(exist_ok=True)
    path = OUT / f"msgstore-{args.messages}.db"
    if not path.exists():
        print(f"generating {path.name} ...", file=sys.stderr)
        start = time.perf_counter()
        generate(path, args.messages)
        print(f"  {time.perf_counter() - start:.1f} s, {path.stat().st_size / 1e6:.0f} MB",
              file=sys.stderr)
    backup = path.with_name(path.name + ".crypt15")
    if not backup.exists():
        print(f"encrypting {backup.name} ...", file=sys.stderr)
        backup.write_bytes(encrypt_backup(path.read_bytes(), crypt15_aes_key(ROOT_KEY)))
    env = {**os.environ, "CONTACTGUARD_BACKUP_KEY": ROOT_KEY.hex()}

    group_by(path)  # warm the page cache for everyone
    bare, ours, alone, crypt = [], [], [], []
    peak = crypt_peak = 0
    for _ in range(args.runs):  # alternating, so that a busy machine hurts both sides alike
        bare.append(group_by(path))
        seconds, rss = evidence_import(path, "plain")
        ours.append(seconds)
        peak = max(peak, rss)
        alone.append(reader(path))
        seconds, rss = evidence_import(backup, "crypt", env)
        crypt.append(seconds)
        crypt_peak = max(crypt_peak, rss)
    base = min(bare)
    walked = group_by(path, indexed=True)
    print(f"msgstore.db: {args.messages:,} messages in {CHATS:,} chats, "
          f"{path.stat().st_size / 1e6:.0f} MB; best of {args.runs}, "
          f"{'CPU' if CPU else 'wall'} seconds")
    print(f"  bare SQL GROUP BY (baseline)        {base:6.2f} s")
    print(f"  (the same, walking the chat index   {walked:6.2f} s: SQLite's own plan)")
    print(f"  android.read in this process        {min(alone):6.2f} s  "
          f"{min(alone) / base:4.2f} x")
    print(f"  evidence import (subprocess)        {min(ours):6.2f} s  {min(ours) / base:4.2f} x  "
          f"peak {peak / 1024:.0f} MB   target <= 2 x: "
          f"{'PASS' if min(ours) <= 2 * base else 'FAIL'}")
    print(f"  evidence import of the .crypt15     {min(crypt):6.2f} s  "
          f"{min(crypt) / base:4.2f} x  peak {crypt_peak / 1024:.0f} MB")


if __name__ == "__main__":
    main()
