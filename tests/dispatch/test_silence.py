"""Silences: states, Alertmanager's update rules and messages, persistence, pruning."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from promalert.clock import FakeClock
from promalert.config.matchers import Matcher, MatchType, parse_matchers
from promalert.dispatch.silence import Silence, Silences, SilenceState
from promalert.errors import SilenceError, SilenceNotFound
from promalert.store import Store


def ids() -> itertools.count[int]:
    return itertools.count(1)


@pytest.fixture
def silences(store: Store, clock: FakeClock) -> Silences:
    counter = ids()
    return Silences(store, clock, new_id=lambda: f"id-{next(counter)}")


def silence(
    clock: FakeClock, text: str = 'team="db"', start: float = 0, end: float = 3600
) -> Silence:
    now = clock.now()
    return Silence(
        tuple(parse_matchers(text)),
        now + timedelta(seconds=start),
        now + timedelta(seconds=end),
        "alice",
        "maintenance",
    )


def test_states_follow_the_clock(silences: Silences, clock: FakeClock) -> None:
    sid = silences.set(silence(clock, start=60, end=120))
    assert silences.get(sid).state(clock.now()) is SilenceState.PENDING
    clock.advance(60)
    assert silences.get(sid).state(clock.now()) is SilenceState.ACTIVE
    assert silences.silenced_by({"team": "db"}, clock.now()) == [sid]
    assert silences.silenced_by({"team": "web"}, clock.now()) == []
    clock.advance(60)
    assert silences.get(sid).state(clock.now()) is SilenceState.EXPIRED
    assert silences.silenced_by({"team": "db"}, clock.now()) == []


def test_a_start_in_the_past_becomes_now(silences: Silences, clock: FakeClock) -> None:
    sid = silences.set(silence(clock, start=-600))
    assert silences.get(sid).starts_at == clock.now()


def test_update_in_place_when_matchers_match_and_state_allows(
    silences: Silences, clock: FakeClock
) -> None:
    sid = silences.set(silence(clock))
    longer = silence(clock, end=7200)
    assert silences.set(Silence(**{**_fields(longer), "id": sid})) == sid
    assert silences.get(sid).ends_at == clock.now() + timedelta(seconds=7200)


def test_changed_matchers_expire_the_old_silence_and_create_a_new_one(
    silences: Silences, clock: FakeClock
) -> None:
    sid = silences.set(silence(clock))
    clock.advance(10)
    changed = Silence(**{**_fields(silence(clock, 'team="web"')), "id": sid})
    new_id = silences.set(changed)
    assert new_id != sid
    assert silences.get(sid).state(clock.now()) is SilenceState.EXPIRED
    assert silences.get(new_id).state(clock.now()) is SilenceState.ACTIVE


def test_expire_pending_and_active_once(silences: Silences, clock: FakeClock) -> None:
    pending = silences.set(silence(clock, start=600, end=1200))
    active = silences.set(silence(clock))
    silences.expire(pending)
    silences.expire(active)
    for sid in (pending, active):
        got = silences.get(sid)
        assert got.state(clock.now()) is SilenceState.EXPIRED
        assert got.ends_at == clock.now()
    clock.advance(60)
    silences.expire(active)  # expiring again changes nothing, as in Alertmanager 0.25
    assert silences.get(active).ends_at == clock.now() - timedelta(seconds=60)
    with pytest.raises(SilenceNotFound, match="silence not found"):
        silences.expire("nope")


@pytest.mark.parametrize(
    ("matchers", "message"),
    [
        ((), "at least one matcher required"),
        ((Matcher.new("a", MatchType.EQUAL, ""),), "must not match the empty string"),
        ((Matcher.new("a", MatchType.REGEX, ".*"),), "must not match the empty string"),
        (
            (Matcher("0a", MatchType.EQUAL, "x"),),
            'invalid label matcher 0: invalid label name "0a"',
        ),
        (
            (Matcher("a", MatchType.REGEX, "("),),
            'invalid label matcher 0: invalid regular expression "\\(": error parsing regexp',
        ),
    ],
)
def test_invalid_silences_say_why(
    silences: Silences, clock: FakeClock, matchers: tuple[Matcher, ...], message: str
) -> None:
    bad = Silence(**{**_fields(silence(clock)), "matchers": matchers})
    with pytest.raises(SilenceError, match=message):
        silences.set(bad)


def test_silences_survive_a_restart_and_old_ones_are_pruned(
    store: Store, clock: FakeClock, silences: Silences
) -> None:
    kept = silences.set(silence(clock, '{a=~"x|y", b!="z"}'))
    gone = silences.set(silence(clock, end=60))
    clock.advance(3600 * 100)
    reopened = Silences(store, clock, retention=3600)
    assert {s.id for s in reopened.all()} == {kept, gone}
    assert [str(m) for m in reopened.get(kept).matchers] == ['a=~"x|y"', 'b!="z"']
    assert reopened.gc() == 2
    assert Silences(store, clock).all() == []


def test_counts_by_state(silences: Silences, clock: FakeClock) -> None:
    silences.set(silence(clock))
    silences.set(silence(clock, start=60, end=120))
    counts = silences.counts(clock.now())
    assert counts == {SilenceState.ACTIVE: 1, SilenceState.PENDING: 1, SilenceState.EXPIRED: 0}


def _fields(s: Silence) -> dict[str, object]:
    return {f: getattr(s, f) for f in Silence.__dataclass_fields__}
