"""Signed, expiring ack links: round trip, expiry, and refusal of every altered token."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest

from promalert.escalation.acklinks import (
    AckClaim,
    InvalidAckToken,
    ack_url,
    make_token,
    read_token,
)

SECRET = "correct horse battery staple"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=24)


def test_round_trip_gives_back_the_claim() -> None:
    token = make_token(SECRET, 123, "alice", LATER)
    assert read_token(SECRET, token, NOW) == AckClaim(123, "alice", LATER)


@pytest.mark.parametrize("user", [None, "bob:the:builder", "Zoë", "a.b-c_d"])
def test_any_user_name_survives(user: str | None) -> None:
    token = make_token(SECRET, 7, user, LATER)
    assert read_token(SECRET, token, NOW).user == user


def test_token_is_url_safe_and_holds_no_secret() -> None:
    token = make_token(SECRET, 99, "alice", LATER)
    assert set(token) <= set(string.ascii_letters + string.digits + "-_.")
    assert SECRET not in token
    assert ack_url("https://alerts.example.com/", token) == (
        f"https://alerts.example.com/ack/{token}"
    )


def test_expiry_is_exclusive_and_says_so() -> None:
    token = make_token(SECRET, 5, "alice", LATER)
    assert read_token(SECRET, token, LATER - timedelta(seconds=1)).incident_id == 5
    with pytest.raises(InvalidAckToken) as caught:
        read_token(SECRET, token, LATER)
    assert caught.value.expired
    assert "expired at 2026-01-06 09:00:00 UTC" in str(caught.value)


def test_every_single_character_change_is_refused() -> None:
    token = make_token(SECRET, 42, "alice", LATER)
    alphabet = string.ascii_letters + string.digits + "-_"
    for i, ch in enumerate(token):
        for other in {alphabet[(alphabet.find(ch) + 1) % len(alphabet)], "."} - {ch}:
            altered = token[:i] + other + token[i + 1 :]
            with pytest.raises(InvalidAckToken) as caught:
                read_token(SECRET, altered, NOW)
            assert not caught.value.expired, altered


def test_a_payload_with_another_tokens_mac_is_refused() -> None:
    mine = make_token(SECRET, 1, "alice", LATER)
    other = make_token(SECRET, 2, "alice", LATER)
    spliced = mine.split(".")[0] + "." + other.split(".")[1]
    with pytest.raises(InvalidAckToken):
        read_token(SECRET, spliced, NOW)


def test_another_key_is_refused_and_the_secret_never_shows() -> None:
    token = make_token("another secret key", 3, "alice", LATER)
    with pytest.raises(InvalidAckToken) as caught:
        read_token(SECRET, token, NOW)
    assert not caught.value.expired
    assert SECRET not in str(caught.value) and "another secret" not in str(caught.value)


def test_tampered_wins_over_expired() -> None:
    token = make_token(SECRET, 3, "alice", NOW - timedelta(hours=1))
    with pytest.raises(InvalidAckToken) as caught:
        read_token(SECRET, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), NOW)
    assert not caught.value.expired


@pytest.mark.parametrize(
    "token", ["", ".", "abc", "abc.", ".abc", "a.b.c", "é.é", "x" * 600 + ".y", "ab=.cd"]
)
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(InvalidAckToken) as caught:
        read_token(SECRET, token, NOW)
    assert not caught.value.expired


def test_no_secret_refuses_everything() -> None:
    with pytest.raises(ValueError, match="secret_key"):
        make_token("", 1, None, LATER)
    with pytest.raises(InvalidAckToken):
        read_token("", make_token(SECRET, 1, None, LATER), NOW)


def test_incident_ids_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        make_token(SECRET, 0, None, LATER)
