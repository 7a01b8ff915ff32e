"""One-click acknowledgement links: ``{external_url}/ack/{token}``, signed and expiring.

A token is ``PAYLOAD.MAC``, both URL-safe base64 without padding. The payload is
``v1:{incident id}:{expiry, unix seconds}:{user}`` (the user may be empty); the MAC is
HMAC-SHA256 over a fixed context string and the payload, keyed with ``global.secret_key``.
The token carries no secret, only what it grants: acknowledging one incident as one
person until it expires. Changing any byte breaks the MAC; the check is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from promalert.errors import PromalertError

_VERSION = "v1"
# Binds the MAC to this use of the key, so a MAC made for anything else never passes here.
_CONTEXT = b"promalert ack link\n"
# Longer than any token make_token writes; refusing early bounds the work per request.
_MAX_TOKEN = 512


@dataclass(frozen=True, slots=True)
class AckClaim:
    """What a valid token grants: acknowledging ``incident_id`` as ``user`` until ``expires``."""

    incident_id: int
    user: str | None
    expires: datetime


class InvalidAckToken(PromalertError):
    """An ack link that is expired (``expired`` is True) or malformed or tampered with."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        self.expired = expired
        super().__init__(message)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    """URL-safe base64 without padding; raise ValueError when it is not that."""
    if not text or not text.isascii():
        raise ValueError("empty or non-ASCII")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None
    # Only the canonical spelling: otherwise the unused low bits of the last character
    # would let several different strings pass as the same token.
    if _encode(data) != text:
        raise ValueError("not canonical base64")
    return data


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), _CONTEXT + payload, hashlib.sha256).digest()


def make_token(secret: str, incident_id: int, user: str | None, expires: datetime) -> str:
    """A signed token that lets ``user`` acknowledge ``incident_id`` until ``expires``."""
    if not secret:
        raise ValueError("ack links need a non-empty global.secret_key")
    if incident_id < 1:
        raise ValueError(f"incident ids start at 1 (got {incident_id})")
    payload = f"{_VERSION}:{incident_id}:{int(expires.timestamp())}:{user or ''}".encode()
    return f"{_encode(payload)}.{_encode(_mac(secret, payload))}"


def read_token(secret: str, token: str, now: datetime) -> AckClaim:
    """The claim a token makes; raise InvalidAckToken if it is tampered with or expired."""
    tampered = InvalidAckToken("this acknowledgement link is not valid (altered or truncated)")
    if not secret or len(token) > _MAX_TOKEN:
        raise tampered
    body, dot, mac_text = token.partition(".")
    try:
        payload, given = _decode(body), _decode(mac_text)
    except ValueError:
        raise tampered from None
    # The MAC is checked before anything in the payload is believed.
    if not dot or not hmac.compare_digest(_mac(secret, payload), given):
        raise tampered
    try:
        version, incident, expiry, user = payload.decode().split(":", 3)
        claim = AckClaim(
            incident_id=int(incident),
            user=user or None,
            expires=datetime.fromtimestamp(int(expiry), UTC),
        )
    except ValueError:
        # Signed with our key but not in our format: another version wrote it.
        raise tampered from None
    if version != _VERSION:
        raise tampered
    if now >= claim.expires:
        raise InvalidAckToken(
            f"this acknowledgement link expired at {claim.expires:%Y-%m-%d %H:%M:%S} UTC",
            expired=True,
        )
    return claim


def ack_url(external_url: str, token: str) -> str:
    """The link put in notifications: ``{external_url}/ack/{token}``."""
    return f"{external_url.rstrip('/')}/ack/{token}"
