"""The pieces of delivery in its own process, each alone: the wire, the replica of the
pending rows, the metrics that travel back, and the journal of sent rows."""

from __future__ import annotations

import asyncio
import pickle
import socket
import sqlite3
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from promalert.clock import FakeClock
from promalert.errors import StoreError
from promalert.metrics import Metrics
from promalert.notify import journal
from promalert.notify.journal import SentJournal, replay_journals
from promalert.notify.replica import Effect, RemoteMetrics, ReplicaOutbox, apply_metrics
from promalert.notify.wire import Wire
from promalert.store import NewNotification, NflogEntry, NflogKey, Store
from promalert.store.outbox import ANNOUNCE_MAX
from promalert.store.records import OutboxRow, StoredText, compact_json, encode_time

T0 = FakeClock().now()


def queue(store: Store, group: str, n: int = 1) -> list[int]:
    """Write ``n`` pending rows of lane ``group`` the way the dispatcher does."""
    key = NflogKey(group, "team", "webhook", 0)
    entry = NflogEntry(key, frozenset({"f"}), frozenset(), T0, T0 + timedelta(days=5))
    note = NewNotification("team", "webhook", 0, group, {"alerts": [], "g": group}, T0)
    return store.write_flushes([], [(entry, note)] * n)


def state(rows: list[OutboxRow]) -> list[tuple[int, int, str, str]]:
    return [(r.id, r.attempts, encode_time(r.next_attempt_at), r.last_error) for r in rows]


def frame(message: Any) -> bytes:
    data = pickle.dumps(message)
    return struct.pack("!I", len(data)) + data


async def until(check: Any, within: float = 5.0) -> None:
    """Poll ``check()`` (every loop turn, then every 10 ms) until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# -- Wire ---------------------------------------------------------------------------------


async def test_wire_carries_many_messages_both_ways_and_a_big_one() -> None:
    a_sock, b_sock = socket.socketpair()
    got_a: list[Any] = []
    got_b: list[Any] = []
    a = await Wire.open(a_sock, got_a.append)
    b = await Wire.open(b_sock, got_b.append)
    big = ("big", b"x" * (2 * 1024 * 1024))  # far beyond the socket's buffer
    for i in range(500):
        a.send(("to b", i))
        b.send(("to a", i, "y" * (i % 50)))
    a.send(big)
    a.send(("after big",))
    await until(lambda: len(got_b) == 502 and len(got_a) == 500)
    assert got_b[:500] == [("to b", i) for i in range(500)]
    assert got_b[500] == big
    assert got_b[501] == ("after big",)
    assert got_a == [("to a", i, "y" * (i % 50)) for i in range(500)]
    assert a.is_open and b.is_open
    a.close()
    b.close()


async def test_frames_split_anywhere_are_put_together() -> None:
    messages = [("poke",), ("effects", 7, [("mark_sent", 1, 1, T0)], None), "z" * 3000]
    stream = b"".join(frame(m) for m in messages)
    # Fed to the protocol one byte at a time, then in odd-sized pieces.
    got: list[Any] = []
    wire = Wire(got.append)
    for i in range(len(stream)):
        wire.data_received(stream[i : i + 1])
    assert got == messages
    got.clear()
    for start in range(0, len(stream), 1000):
        wire.data_received(stream[start : start + 1000])
    assert got == messages
    # Over a real socket, the peer writing a frame in pieces with pauses between.
    ours, theirs = socket.socketpair()
    got.clear()
    wire = await Wire.open(ours, got.append)
    for piece in (stream[:2], stream[2:9], stream[9:4000], stream[4000:]):
        theirs.sendall(piece)
        await asyncio.sleep(0.01)  # let the reader see each piece alone
    await until(lambda: len(got) == 3)
    assert got == messages
    theirs.close()
    await asyncio.wait_for(wire.closed, 5)
    assert not wire.is_open


async def test_closed_resolves_when_the_peer_closes() -> None:
    a_sock, b_sock = socket.socketpair()
    got: list[Any] = []
    a = await Wire.open(a_sock, got.append)
    b = await Wire.open(b_sock, lambda _: None)
    assert not a.closed.done()
    b.send(("last",))
    b.close()  # what was queued still goes out
    await asyncio.wait_for(a.closed, 5)
    assert got == [("last",)]
    assert not a.is_open
    a.send(("into the void",))
    a.flush()  # dropped, not an error
    a.close()


# -- ReplicaOutbox ------------------------------------------------------------------------


def test_replica_reads_only_rows_committed_since_its_last_read(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    effects: list[Effect] = []
    a, b = queue(store, "g1", 2)
    replica = ReplicaOutbox(store.path, effects.append)
    assert replica.count_pending() == 0  # nothing until it reads
    replica.read_new()
    assert [r.id for r in replica.outbox_heads()] == [a]
    (c,) = queue(store, "g2")
    assert replica.count_pending() == 2
    # A write in progress (not committed) is not seen; once committed it is.
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute(
        "INSERT INTO outbox (id, created_at, receiver, channel, integration, group_key, "
        "payload, status, attempts, next_attempt_at) "
        "VALUES (?, ?, 'team', 'webhook', 0, 'g3', '{}', 'pending', 0, ?)",
        (c + 1, encode_time(T0), encode_time(T0)),
    )
    replica.read_new()
    assert replica.count_pending() == 3
    other.execute("COMMIT")
    other.close()
    replica.read_new()
    assert [r.id for r in replica.outbox_heads()] == [a, c, c + 1]
    assert replica.count_pending() == 4
    replica.read_new()  # nothing new: nothing read twice
    assert replica.count_pending() == 4
    head = replica.outbox_head(("g1", "team", "webhook", 0))
    assert head is not None and head.id == a and b not in {r.id for r in replica.outbox_heads()}
    assert effects == []
    replica.close()
    store.close()


class Announced:
    """What the store announces, and whether the rows were in the file at that moment."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows: list[tuple[Any, ...]] = []
        self.seen_in_file: list[int] = []
        self.retracted: list[int] = []

    def announce(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows += rows
        with sqlite3.connect(self.store.path) as other:
            ids = [row[0] for row in rows]
            marks = ",".join("?" * len(ids))
            found = other.execute(f"SELECT id FROM outbox WHERE id IN ({marks})", ids)
            self.seen_in_file += [row[0] for row in found]

    def retract(self, ids: list[int]) -> None:
        self.retracted += ids


def test_flush_rows_are_announced_before_their_commit_as_the_file_has_them(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "s.db")
    heard = store.announce = Announced(store)
    ids = queue(store, "g1") + queue(store, "g2") + queue(store, "g3")
    assert [row[0] for row in heard.rows] == ids
    assert heard.seen_in_file == []  # not committed yet when announced
    # The announced values are the row as a reader of the file gets it after the commit.
    replica = ReplicaOutbox(store.path, lambda _: None)
    replica.read_new()
    read = replica.outbox_heads()
    assert len(read) == 3
    taken = ReplicaOutbox(store.path, lambda _: None)
    taken.take(heard.rows)
    assert state(taken.outbox_heads()) == state(read)
    assert [(r.id, r.payload, r.created_at, r.first_firing_at) for r in taken.outbox_heads()] == [
        (r.id, r.payload, r.created_at, r.first_firing_at) for r in read
    ]
    assert taken.count_pending() == replica.count_pending() == 3
    assert heard.retracted == []
    store.write_flushes([], [])  # nothing queued: nothing announced
    assert len(heard.rows) == 3
    queue(store, "burst", ANNOUNCE_MAX + 1)  # a burst is read from the file
    assert len(heard.rows) == 3
    replica.close()
    taken.close()
    store.close()


def test_a_failed_flush_retracts_its_rows_and_their_ids_stay_unused(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    heard = store.announce = Announced(store)
    (a,) = queue(store, "g1")
    # The transaction fails after the announcement (at the notification-log write).
    failing = "CREATE TRIGGER no_log BEFORE INSERT ON nflog BEGIN SELECT RAISE(ABORT, 'no'); END"
    with sqlite3.connect(store.path) as other:
        other.execute(failing)
    with pytest.raises(StoreError):
        queue(store, "g2", 2)
    with sqlite3.connect(store.path) as other:
        other.execute("DROP TRIGGER no_log")
    ghosts = [row[0] for row in heard.rows[1:]]
    assert ghosts == [a + 1, a + 2] and heard.retracted == ghosts
    replica = ReplicaOutbox(store.path, lambda _: None)
    replica.read_new()
    replica.take(heard.rows[1:])
    replica.retract(heard.retracted)
    assert [r.id for r in replica.outbox_heads()] == [a]
    # No later row reuses an announced id, a flush's or another write's (an incident
    # page): a late "sent" for a ghost row can never mark a real one.
    (page,) = store.queue_notifications([NewNotification("team", "webhook", 0, "p", {}, T0)])
    (b,) = queue(store, "g3")
    assert (page, b) == (a + 3, a + 4)
    replica.take(heard.rows[3:])
    assert [r.id for r in replica.outbox_heads()] == [a, page, b]
    replica.close()
    store.close()


def test_taking_rows_reads_earlier_commits_first_and_skips_rows_it_has(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    replica = ReplicaOutbox(store.path, lambda _: None)
    replica.read_new()
    a, b = queue(store, "g1", 2)  # committed, never announced (another writer's rows)
    heard = store.announce = Announced(store)
    (c,) = queue(store, "g2")
    replica.take(heard.rows)
    assert [r.id for r in replica.outbox_heads()] == [a, c]
    assert replica.count_pending() == 3
    replica.take(heard.rows)  # again: nothing twice
    replica.read_new()  # the poke after the commit finds nothing new
    assert replica.count_pending() == 3
    replica.take([])
    assert replica.count_pending() == 3
    replica.close()
    store.close()


def test_replica_lanes_and_heads_match_the_store(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    queue(store, "g2", 2)
    queue(store, "g1", 3)
    replica = ReplicaOutbox(store.path, lambda _: None)
    replica.read_new()
    assert state(replica.outbox_heads()) == state(store.outbox_heads())
    skip = {("g2", "team", "webhook", 0)}
    assert state(replica.outbox_heads(skip)) == state(store.outbox_heads(skip))
    for lane in (("g1", "team", "webhook", 0), ("g2", "team", "webhook", 0)):
        assert replica.outbox_head(lane) == store.outbox_head(lane)
    assert replica.outbox_head(("nope", "team", "webhook", 0)) is None
    assert replica.count_pending() == store.count_pending() == 5
    # The first call says "look at every lane"; later ones name only new lanes.
    assert replica.new_outbox_heads() is None
    assert replica.new_outbox_heads() == []
    queue(store, "g1")  # a known lane: nothing new at its head
    (g3,) = queue(store, "g3")
    replica.read_new()
    assert [r.id for r in replica.new_outbox_heads() or []] == [g3]
    assert replica.new_outbox_heads() == []
    replica.close()
    store.close()


def test_replica_writes_change_the_copy_and_become_effects(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    a, b = queue(store, "g1", 2)
    (c,) = queue(store, "g2")
    (d,) = queue(store, "g3")
    effects: list[Effect] = []
    replica = ReplicaOutbox(store.path, effects.append)
    replica.read_new()
    retry_at, until_at = T0 + timedelta(seconds=5), T0 + timedelta(minutes=1)
    replica.mark_sent(a, 1, T0)
    replica.record_failure(c, 1, "HTTP 503", "http_5xx", retry_at)
    replica.defer([d], until_at)
    replica.record_receipt(b, "webhook", [("msg-1", "ops")], T0)
    assert effects == [
        ("mark_sent", a, 1, T0),
        ("record_failure", c, 1, "HTTP 503", "http_5xx", retry_at),
        ("defer", [d], until_at),
        ("record_receipt", b, "webhook", [("msg-1", "ops")], T0),
    ]
    heads = {r.id: r for r in replica.outbox_heads()}
    assert sorted(heads) == [b, c, d]
    assert (heads[c].attempts, heads[c].next_attempt_at, heads[c].last_error) == (
        1,
        retry_at,
        "HTTP 503",
    )
    assert heads[d].next_attempt_at == until_at
    # The service writes the effects; the store then agrees with the copy.
    for name, *args in effects:
        getattr(store, name)(*args)
    assert state(store.outbox_heads()) == state(replica.outbox_heads())
    effects.clear()
    replica.record_failure(c, 2, "HTTP 400", "http_4xx", None)  # given up
    assert replica.delete_finished_outbox(T0) == 0
    assert replica.delete_orphan_deliveries() == 0
    assert effects == [
        ("record_failure", c, 2, "HTTP 400", "http_4xx", None),
        ("delete_finished_outbox", T0),
        ("delete_orphan_deliveries",),
    ]
    assert [r.id for r in replica.outbox_heads()] == [b, d]
    assert replica.count_pending() == 2
    replica.close()
    store.close()


@pytest.mark.parametrize(
    ("payload", "why"), [("{not json", "Expecting property name"), ("[1, 2]", "not a JSON object")]
)
def test_an_unreadable_row_is_skipped_and_reported_failed(
    tmp_path: Path, payload: str, why: str
) -> None:
    store = Store.open(tmp_path / "s.db")
    a, b = queue(store, "g1", 2)
    with sqlite3.connect(store.path) as hand:
        hand.execute("UPDATE outbox SET payload=? WHERE id=?", (payload, a))
    hand.close()
    effects: list[Effect] = []
    replica = ReplicaOutbox(store.path, effects.append)
    replica.read_new()
    assert [r.id for r in replica.outbox_heads()] == [b]  # the lane is not blocked
    assert len(effects) == 1
    name, row_id, attempts, error = effects[0]
    assert (name, row_id, attempts) == ("mark_failed", a, None)
    assert error.startswith("unreadable row: ") and why in error
    store.mark_failed(row_id, attempts, error)  # what the service does with it
    raw = store._conn.execute  # noqa: SLF001 - the row itself cannot be decoded
    assert raw("SELECT status, attempts, last_error FROM outbox WHERE id=?", (a,)).fetchall() == [
        ("failed", 0, error)
    ]
    replica.close()
    store.close()


def test_text_only_integrations_get_the_stored_text_undecoded(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    a, b = queue(store, "g1", 2)
    with sqlite3.connect(store.path) as hand:
        hand.execute("UPDATE outbox SET payload='[1, 2]' WHERE id=?", (b,))  # not an object
    hand.close()
    stored = store._conn.execute("SELECT payload FROM outbox WHERE id=?", (a,)).fetchone()[0]  # noqa: SLF001
    effects: list[Effect] = []
    replica = ReplicaOutbox(store.path, effects.append)
    replica.text_only = frozenset({("team", 0)})
    replica.read_new()
    head = replica.outbox_head(("g1", "team", "webhook", 0))
    assert head is not None and head.id == a
    assert isinstance(head.payload, StoredText) and dict.__len__(head.payload) == 0
    assert compact_json(head.payload) == stored  # what the webhook sends, byte for byte
    assert head.payload["g"] == "g1"  # and it still reads like the payload it is
    # A text that is not a JSON object is still caught when it is read.
    assert [e[:2] for e in effects] == [("mark_failed", b)]
    replica.close()
    store.close()


# -- RemoteMetrics ------------------------------------------------------------------------


def record(metrics: Any) -> None:
    """What a delivery worker does to its metrics, on the real or the remote object."""
    metrics.notifications.labels(channel="webhook", receiver="ops").inc()
    metrics.notifications.labels(channel="webhook", receiver="ops").inc()
    metrics.notifications.labels(receiver="dev", channel="slack").inc(3)
    metrics.notifications_failed.labels(channel="webhook", receiver="ops", reason="http_5xx").inc()
    metrics.notification_latency.labels(channel="webhook").observe(0.004)
    metrics.notification_latency.labels(channel="webhook").observe(2.5)
    metrics.notification_delay.labels(channel="slack").observe(30.0)
    metrics.outbox_pending.set(7)
    metrics.outbox_pending.set(4)
    metrics.alerts_invalid.inc()


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_remote_metrics_replay_to_the_same_values() -> None:
    direct, replayed = Metrics(), Metrics()
    changes: list[None] = []
    remote = RemoteMetrics(lambda: changes.append(None))
    assert remote.take() is None
    for _ in range(2):  # two reports in a row add up
        record(direct)
        record(remote)
        taken = remote.take()
        assert taken is not None
        apply_metrics(replayed, pickle.loads(pickle.dumps(taken)))  # as over the wire
        assert remote.take() is None
    assert len(changes) == 20
    assert samples(replayed) == samples(direct)
    get = replayed.registry.get_sample_value
    ops = {"channel": "webhook", "receiver": "ops"}
    assert get("promalert_notifications_total", ops) == 4
    assert get("promalert_notifications_total", {"channel": "slack", "receiver": "dev"}) == 6
    latency = "promalert_notification_latency_seconds"
    assert get(f"{latency}_count", {"channel": "webhook"}) == 4
    assert get(f"{latency}_sum", {"channel": "webhook"}) == pytest.approx(5.008)
    assert get("promalert_outbox_pending", {}) == 4
    assert get("promalert_alerts_invalid_total", {}) == 2


# -- SentJournal and replay ---------------------------------------------------------------


def journals(folder: Path) -> list[Path]:
    return sorted(folder.glob("*-sent.*"))


def test_journal_rotates_and_drops_only_committed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A line is 32 bytes: a file is full after its second report.
    monkeypatch.setattr(journal, "_ROTATE_BYTES", 40)
    db = tmp_path / "s.db"
    sent = SentJournal(db)
    for report in range(1, 7):
        sent.record(report, 1, T0)
        sent.write(report)
    sent.write(7)  # nothing recorded: nothing written, no empty report
    files = journals(tmp_path)
    lines = [line for f in files for line in f.read_text().splitlines()]
    assert lines == [f"{i} 1 {encode_time(T0)}" for i in range(1, 7)]
    assert len(files) == 4  # three full (two reports each), one fresh and empty
    assert files[-1].read_text() == ""
    sent.committed(3)  # the second file also holds report 4: kept
    assert [f.name for f in journals(tmp_path)] == [f.name for f in files[1:]]
    sent.committed(6)
    assert journals(tmp_path) == [files[-1]]  # the file being written stays
    sent.record(9, 2, T0)
    sent.write(8)
    sent.close()
    assert files[-1].read_text() == f"9 2 {encode_time(T0)}\n"


def test_replay_marks_journaled_rows_sent_and_deletes_the_files(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    ids = queue(store, "g1", 4)
    sent = SentJournal(store.path)
    at = T0 + timedelta(seconds=3)
    sent.record(ids[0], 1, at)
    sent.record(ids[1], 2, at)
    sent.write(1)
    sent.close()
    # Another process's journal, cut short in the middle of its last line by a kill.
    line = f"{ids[2]} 3 {encode_time(at)}\n"
    (tmp_path / "s.db-sent.99999.0").write_text(line + f"{ids[3]} 1 {encode_time(at)}"[:-5])
    (tmp_path / "other.db-sent.1.0").write_text(f"{ids[3]} 1 {encode_time(at)}\n")
    assert replay_journals(store) == 3
    rows = {r.id: r for r in store.outbox_rows()}
    for row_id, attempts in ((ids[0], 1), (ids[1], 2), (ids[2], 3)):
        assert (rows[row_id].status, rows[row_id].attempts, rows[row_id].sent_at) == (
            "sent",
            attempts,
            at,
        )
    assert (rows[ids[3]].status, rows[ids[3]].attempts) == ("pending", 0)
    assert [r.id for r in store.pending_outbox_rows()] == [ids[3]]
    # Only this store's journals are applied and removed.
    assert [f.name for f in journals(tmp_path)] == ["other.db-sent.1.0"]
    assert replay_journals(store) == 0
    store.close()
