"""Twilio SMS (``Messages.json``) and voice calls (``Calls.json`` with TwiML ``<Say>``).

Both POST a form to ``{api_url}/2010-04-01/Accounts/{AccountSid}/...`` with HTTP basic
auth (account SID and auth token) and get ``201`` with the new resource's ``sid``, or
an error ``{"code": 21211, "message": ..., "status": 400}``. Each recipient gets its own
request; within one outbox row the recipients already reached are remembered, so a
retry after a partial failure does not text them again. With ``status_callback`` on,
Twilio reports delivery to ``POST /api/v1/twilio/status``, signed with
``X-Twilio-Signature`` (:func:`signature`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

from promalert.config.receivers import SMSConfig, TwilioConfig, VoiceConfig
from promalert.notify.base import Message, Receipt
from promalert.notify.channel import ChannelContext, TemplatedChannel, cut
from promalert.notify.http import Response

STATUS_PATH = "/api/v1/twilio/status"
# Twilio error codes: 20003 authentication failed, 20429 too many requests.
_AUTH_CODES = frozenset({20003, 20005, 20008})
_RATE_CODES = frozenset({20429, 14107})
_REMEMBERED_ROWS = 1000
_LOOPBACK = frozenset({"", "localhost", "::1"})

MESSAGE_STATUS = {
    "queued": "sent",
    "accepted": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}
"""Twilio ``MessageStatus`` -> promalert delivery status."""
CALL_STATUS = {
    "queued": "sent",
    "initiated": "sent",
    "ringing": "sent",
    "in-progress": "delivered",
    "completed": "delivered",
    "busy": "failed",
    "no-answer": "failed",
    "failed": "failed",
    "canceled": "failed",
}
"""Twilio ``CallStatus`` -> promalert delivery status (an answered call is delivered)."""


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL + sorted name/value pairs."""
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def valid_signature(auth_token: str, url: str, params: Mapping[str, str], given: str) -> bool:
    """True when ``given`` is the signature of this request (constant-time compare)."""
    return hmac.compare_digest(signature(auth_token, url, params).encode(), given.encode())


def callback_status(params: Mapping[str, str]) -> tuple[str, str] | None:
    """(provider id, promalert status) of a status callback, or None if it has neither."""
    if "MessageSid" in params and "MessageStatus" in params:
        status = MESSAGE_STATUS.get(params["MessageStatus"])
        return None if status is None else (params["MessageSid"], status)
    if "CallSid" in params and "CallStatus" in params:
        status = CALL_STATUS.get(params["CallStatus"])
        return None if status is None else (params["CallSid"], status)
    return None


def sms_parts(text: str, max_length: int, overflow: str, max_parts: int) -> list[str]:
    """The texts to send: one cut to ``max_length``, or numbered ``(1/3) `` parts."""
    text = " ".join(text.split())  # SMS has no layout: newlines only cost characters
    if len(text) <= max_length:
        return [text]
    if overflow == "truncate":
        return [cut(text, max_length)]
    parts: list[str] = []
    rest = text
    prefix_len = len(f"({max_parts}/{max_parts}) ")
    room = max_length - prefix_len
    while rest and len(parts) < max_parts:
        if len(rest) <= room:
            parts.append(rest)
            rest = ""
            break
        chunk = rest[:room]
        space = chunk.rfind(" ")
        if space > room // 2:  # break at a word when one is near the end
            chunk = chunk[:space]
        parts.append(chunk)
        rest = rest[len(chunk) :].lstrip()
    if rest:
        parts[-1] = cut(parts[-1] + " " + rest, room)
    return [f"({i}/{len(parts)}) {p}" for i, p in enumerate(parts, 1)]


VOICE_PATH = "/api/v1/twilio/voice"
"""Where Twilio posts the key a callee pressed (``<Gather>``) on an incident call."""


def twiml(
    text: str, language: str, voice: str | None, repeat: int, gather: str | None = None
) -> str:
    """TwiML that reads ``text`` ``repeat`` times with a pause between.

    With ``gather`` (a URL), the call also asks for a key — 1 acknowledges, 2 resolves —
    and Twilio posts it there.
    """
    attrs = f" language={quoteattr(language)}"
    if voice:
        attrs += f" voice={quoteattr(voice)}"
    say = f"<Say{attrs}>{escape(' '.join(text.split()))}</Say>"
    body = '<Pause length="1"/>'.join([say] * repeat)
    if gather is not None:
        ask = f"<Say{attrs}>Press 1 to acknowledge, or 2 to resolve.</Say>"
        body = (
            f'<Gather numDigits="1" method="POST" action={quoteattr(gather)}>{body}{ask}</Gather>'
        )
    return f"<Response>{body}</Response>"


def gather_url(external_url: str, incident: Any) -> str | None:
    """The ``<Gather>`` action of a call about ``incident`` (a payload's incident object)."""
    if not isinstance(incident, Mapping) or not isinstance(incident.get("id"), int):
        return None
    query = {"incident": str(incident["id"])}
    if isinstance(incident.get("user"), str):
        query["user"] = incident["user"]
    return f"{external_url.rstrip('/')}{VOICE_PATH}?{urlencode(query)}"


class _TwilioChannel(TemplatedChannel):
    """Shared by SMS and voice: the account, the recipients, the request, the errors."""

    resource = ""

    def __init__(
        self, config: TwilioConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        token = config.auth_token.get_secret_value()
        credentials = base64.b64encode(f"{config.account_sid}:{token}".encode()).decode()
        super().__init__(config, context, receiver, index, secrets=[token, credentials])
        self._twilio = config
        self._auth = {"Authorization": f"Basic {credentials}"}
        base = config.api_url.rstrip("/")
        self._url = f"{base}/2010-04-01/Accounts/{config.account_sid}/{self.resource}"
        # Outbox row id -> (recipient, part) pairs Twilio already accepted.
        self._done: OrderedDict[int, dict[tuple[str, int], str]] = OrderedDict()

    def _callback(self) -> dict[str, str]:
        external = self._context.external_url.rstrip("/")
        host = urlsplit(external).hostname or ""
        # Twilio cannot call back a loopback address (the default external_url).
        if not self._twilio.status_callback or host in _LOOPBACK or host.startswith("127."):
            return {}
        return {"StatusCallback": external + STATUS_PATH}

    async def _send_all(self, message: Message, forms: list[dict[str, str]]) -> Receipt:
        """POST every form to every recipient not yet reached for this row."""
        done = self._done.setdefault(message.id, {})
        self._done.move_to_end(message.id)
        while len(self._done) > _REMEMBERED_ROWS:
            self._done.popitem(last=False)
        for recipient in self._twilio.to:
            for number, form in enumerate(forms):
                if (recipient, number) in done:
                    continue
                fields = {"To": recipient, "From": self._twilio.from_, **form, **self._callback()}
                response = await self._http.post(self._url, data=fields, headers=self._auth)
                self._check(response)
                answer = response.json()
                sid = str(answer.get("sid", "")) if isinstance(answer, dict) else ""
                done[(recipient, number)] = sid
        self._done.pop(message.id, None)
        return Receipt(tuple((sid, r) for (r, _), sid in done.items() if sid))

    def _check(self, response: Response) -> None:
        if response.ok:
            return
        answer = response.json()
        code = answer.get("code") if isinstance(answer, dict) else None
        detail = ""
        if isinstance(answer, dict):
            detail = f"Twilio error {code}: {answer.get('message', '')}"
        status = response.status
        if status == 429 or status >= 500:
            self._http.check(response, detail)  # retryable, honouring Retry-After
        if code in _RATE_CODES:
            raise self._http.error(detail, retryable=True, reason="rate_limited", response=response)
        if code in _AUTH_CODES or status in (401, 403):
            raise self._http.error(
                f"HTTP {status}: {detail}", retryable=False, reason="auth", response=response
            )
        if isinstance(code, int):
            raise self._http.error(
                detail, retryable=False, reason="provider_error", response=response
            )
        self._http.check(response, detail)


class SMSNotifier(_TwilioChannel):
    """One ``sms_configs`` entry of a receiver."""

    channel = "sms"
    resource = "Messages.json"

    def __init__(
        self, config: SMSConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's sms configs."""
        super().__init__(config, context, receiver, index)
        self._config = config

    async def notify(self, message: Message) -> Receipt:
        """Text every recipient (every part when split); return the message sids."""
        _, parts = self.render(message)
        c = self._config
        texts = sms_parts(parts["text"], c.max_length, c.overflow, c.max_parts)
        return await self._send_all(message, [{"Body": t} for t in texts])


class VoiceNotifier(_TwilioChannel):
    """One ``voice_configs`` entry of a receiver."""

    channel = "voice"
    resource = "Calls.json"

    def __init__(
        self, config: VoiceConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's voice configs."""
        super().__init__(config, context, receiver, index)
        self._config = config

    async def notify(self, message: Message) -> Receipt:
        """Call every recipient; return the call sids."""
        _, parts = self.render(message)
        c = self._config
        gather = gather_url(self._context.external_url, message.payload.get("incident"))
        spoken = twiml(parts["text"], c.language, c.voice, c.repeat, gather)
        return await self._send_all(message, [{"Twiml": spoken}])
