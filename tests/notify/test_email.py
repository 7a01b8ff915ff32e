"""Email against a real SMTP server (aiosmtpd) with STARTTLS, SMTPS and AUTH.

Certificates are made in the test with trustme; the client trusts only that CA.
"""

from __future__ import annotations

import email
import email.policy
import gc
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from provider_server import T0, alert, context, message

from promalert.config.receivers import EmailConfig
from promalert.errors import NotifyError
from promalert.notify.email import EmailNotifier
from support.prometheus import free_port

USER, PASSWORD = "alerts@example.com", "smtp-pa55w0rd-s3cr3t"
TITLE = "[FIRING:1] HighCPU instance=web-1 severity=critical — CPU at 97%"


# aiosmtplib and aiosmtpd sometimes leave a socket of a refused or failed session to the
# garbage collector (our notifier closes the client it holds). Collect after every test
# here so such warnings surface in this module, where they are ignored, not in a later one.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(autouse=True)
def _collect_sockets() -> Iterator[None]:
    yield
    gc.collect()


@dataclass
class Inbox:
    """What the SMTP server accepted."""

    envelopes: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    data_answer: str | None = None

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.data_answer:
            return self.data_answer
        self.envelopes.append(envelope)
        return "250 Message accepted"


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USER, PASSWORD)
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def smtp(ca: trustme.CA) -> Iterator[tuple[Inbox, int]]:
    """An SMTP server offering STARTTLS, and AUTH only after it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context(ca),
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    yield inbox, port
    controller.stop()


def notifier(
    session: aiohttp.ClientSession, port: int, ca_file: str, **extra: Any
) -> EmailNotifier:
    config = EmailConfig.model_validate(
        {
            "to": "oncall@example.com, boss@example.com",
            "from": "promalert@example.com",
            "smarthost": f"127.0.0.1:{port}",
            "hello": "promalert.example",
            "auth_username": USER,
            "auth_password": PASSWORD,
            "tls": {"ca_file": ca_file},
            "timeout": "5s",
            **extra,
        }
    )
    return EmailNotifier(config, context(session), "team", 0)


async def test_starttls_auth_and_a_multipart_message(smtp: tuple[Inbox, int], ca_file: str) -> None:
    inbox, port = smtp
    async with aiohttp.ClientSession() as session:
        await notifier(session, port, ca_file, headers={"X-Team": "ops"}).notify(message())
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "promalert@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "boss@example.com"]
    assert envelope.content is not None
    raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["From"] == "promalert@example.com"
    assert mail["To"] == "oncall@example.com, boss@example.com"
    assert mail["Subject"] == TITLE
    assert mail["Date"] == "Mon, 05 Jan 2026 09:00:00 +0000"
    assert mail["Message-Id"].endswith("@promalert.example>")
    assert mail["X-Team"] == "ops"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = (part.get_content() for part in mail.iter_parts())
    text = text.replace("\r\n", "\n")
    assert text.startswith(f"{TITLE}\n\n[FIRING] HighCPU: CPU at 97%\nweb-1 is busy\n")
    assert "  instance = web-1\n" in text
    assert "<h3>[FIRING] HighCPU</h3>" in html and "<td>web-1</td>" in html


async def test_html_part_escapes_label_values(smtp: tuple[Inbox, int], ca_file: str) -> None:
    inbox, port = smtp
    async with aiohttp.ClientSession() as session:
        await notifier(session, port, ca_file).notify(message(alert(job="<script>x</script>")))
    raw = inbox.envelopes[0].content
    assert isinstance(raw, bytes)
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    html = list(mail.iter_parts())[1].get_content()
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


async def test_wrong_password_is_an_auth_failure(smtp: tuple[Inbox, int], ca_file: str) -> None:
    _, port = smtp
    async with aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await notifier(session, port, ca_file, auth_password="wrong").notify(message())
    assert (info.value.retryable, info.value.reason) == (False, "auth")
    assert str(info.value).startswith("email[0] of receiver 'team': authentication failed: 535")


async def test_refused_recipients_are_not_retried(smtp: tuple[Inbox, int], ca_file: str) -> None:
    inbox, port = smtp
    inbox.refuse = {"oncall@example.com", "boss@example.com"}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await notifier(session, port, ca_file).notify(message())
    assert (info.value.retryable, info.value.reason) == (False, "rejected")
    assert "oncall@example.com (550)" in str(info.value)


async def test_temporary_failure_is_retried(smtp: tuple[Inbox, int], ca_file: str) -> None:
    inbox, port = smtp
    inbox.data_answer = "451 4.3.0 try again later"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await notifier(session, port, ca_file).notify(message())
    assert (info.value.retryable, info.value.reason) == (True, "rejected")


async def test_untrusted_certificate_fails_as_tls(smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    _, port = smtp
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await notifier(session, port, str(other)).notify(message())
    assert (info.value.retryable, info.value.reason) == (True, "tls")


async def test_require_tls_refuses_a_server_without_starttls(ca_file: str) -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(NotifyError) as info:
                await notifier(
                    session, port, ca_file, auth_username=None, auth_password=None
                ).notify(message())
            assert (info.value.retryable, info.value.reason) == (False, "tls")
            assert inbox.envelopes == []
            await notifier(
                session, port, ca_file, auth_username=None, auth_password=None, require_tls=False
            ).notify(message())
        assert len(inbox.envelopes) == 1
    finally:
        controller.stop()


async def test_implicit_tls(ca: trustme.CA, ca_file: str) -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        ssl_context=server_context(ca),
        authenticator=authenticator,
    )
    controller.start()
    try:
        async with aiohttp.ClientSession() as session:
            await notifier(session, port, ca_file, implicit_tls=True).notify(message())
        assert len(inbox.envelopes) == 1
    finally:
        controller.stop()


async def test_the_password_never_leaks_even_when_the_server_echoes_it(
    ca: trustme.CA, ca_file: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import base64
    import logging
    import random

    from prometheus_client import generate_latest

    from promalert.clock import FakeClock
    from promalert.metrics import Metrics
    from promalert.notify.delivery_api import notification_json
    from promalert.notify.outbox import DeliveryWorker
    from promalert.store import NewNotification, NflogEntry, NflogKey, Store

    def echoing(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        said = f"{auth_data.login.decode()} {auth_data.password.decode()}"
        plain = base64.b64encode(f"\0{USER}\0{auth_data.password.decode()}".encode()).decode()
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 bad {said} {plain}")

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context(ca),
        require_starttls=True,
        authenticator=echoing,
    )
    controller.start()
    caplog.set_level(logging.DEBUG)
    store = Store.open(tmp_path / "promalert.db")
    metrics = Metrics()
    clock = FakeClock(T0)
    try:
        async with aiohttp.ClientSession() as session:
            n = notifier(session, port, ca_file)
            with pytest.raises(NotifyError) as info:
                await n.notify(message())
            payload = message().payload
            key = NflogKey(payload["groupKey"], "team", "email", 0)
            entry = NflogEntry(key, frozenset({"f"}), frozenset(), T0, T0.replace(year=2027))
            store.enqueue(entry, NewNotification("team", "email", 0, key.group_key, payload, T0))
            worker = DeliveryWorker(store, {("team", 0): n}, clock, metrics, rng=random.Random(1))
            await worker.run_due()
    finally:
        controller.stop()
    assert "535" in str(info.value) and "<secret>" in str(info.value)
    (row,) = store.outbox_rows()
    api = str([notification_json(r) for r in store.notification_log()])
    store.close()
    encoded = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    # Our logs: the fake server's own log ("mail.log") does echo what it was sent.
    logs = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    for text in (
        str(info.value),
        logs,
        row.last_error,
        api,
        generate_latest(metrics.registry).decode(),
    ):
        assert PASSWORD not in text and encoded not in text
