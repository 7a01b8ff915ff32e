"""Email over SMTP with aiosmtplib: implicit TLS on port 465, else STARTTLS; AUTH; multipart.

Like Alertmanager: port 465 means TLS from the first byte; otherwise the connection
is upgraded with STARTTLS when the server offers it, and ``require_tls`` (default on)
refuses to send in clear text when it does not. Credentials are used only when the
server offers AUTH. The message is ``multipart/alternative`` with the rendered ``text``
and ``html`` parts; ``Subject`` is the rendered ``subject``.
"""

from __future__ import annotations

import base64
import contextlib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib

from promalert.config.receivers import EmailConfig, TLSClientConfig
from promalert.errors import NotifyError
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext, TemplatedChannel

IMPLICIT_TLS_PORT = 465


def tls_context(tls: TLSClientConfig | None) -> ssl.SSLContext:
    """A client SSL context from the config (system CAs unless ``ca_file`` is given)."""
    tls = tls or TLSClientConfig()
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def build_email(
    config: EmailConfig, parts: dict[str, str], *, date: str, message_id: str
) -> EmailMessage:
    """The multipart text + HTML message."""
    mail = EmailMessage()
    mail["From"] = config.from_ or ""
    mail["To"] = ", ".join(config.to)
    mail["Subject"] = " ".join(parts["subject"].split())
    mail["Date"] = date
    mail["Message-Id"] = message_id
    mail["Auto-Submitted"] = "auto-generated"
    for name, value in config.headers.items():
        del mail[name]
        mail[name] = value
    mail.set_content(parts["text"] + "\n")
    mail.add_alternative(parts["html"], subtype="html")
    return mail


class EmailNotifier(TemplatedChannel):
    """One ``email_configs`` entry of a receiver."""

    channel = "email"

    def __init__(
        self, config: EmailConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's email configs."""
        password = config.auth_password.get_secret_value() if config.auth_password else ""
        user = config.auth_username or ""
        # How AUTH PLAIN and LOGIN carry the password: masked too, should a server echo it.
        encoded = [
            base64.b64encode(f"\0{user}\0{password}".encode()).decode(),
            base64.b64encode(password.encode()).decode(),
        ]
        super().__init__(
            config, context, receiver, index, secrets=[password, *encoded] if password else []
        )
        self._config = config
        self._password = password

    async def notify(self, message: Message) -> None:
        """Send the email once."""
        _, parts = self.render(message)
        config = self._config
        mail = build_email(
            config,
            parts,
            date=format_datetime(self._context.clock.now()),
            message_id=make_msgid(domain=config.hello),
        )
        try:
            context = tls_context(config.tls)
        except (OSError, ssl.SSLError) as exc:
            raise self._http.error(
                f"cannot load TLS files: {exc.strerror or type(exc).__name__}",
                retryable=False,
                reason="config",
            ) from None
        implicit = config.implicit_tls
        if implicit is None:
            implicit = config.port == IMPLICIT_TLS_PORT
        smtp = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            local_hostname=config.hello,
            timeout=config.timeout,
            use_tls=implicit,
            start_tls=False,
            tls_context=context if implicit else None,
        )
        server_name = config.tls.server_name if config.tls else None
        try:
            await smtp.connect()
            await smtp.ehlo()
            if not implicit:
                if smtp.supports_extension("starttls"):
                    await smtp.starttls(tls_context=context, server_hostname=server_name)
                    await smtp.ehlo()  # extensions (AUTH) may differ once encrypted
                elif config.require_tls:
                    raise self._http.error(
                        "the server does not offer STARTTLS and require_tls is on",
                        retryable=False,
                        reason="tls",
                    )
            if config.auth_username and smtp.supports_extension("auth"):
                await smtp.login(config.auth_username, self._password)
            await smtp.send_message(mail, sender=config.from_, recipients=list(config.to))
        except NotifyError:
            raise
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise self._http.error(
                f"authentication failed: {exc.code} {exc.message}", retryable=False, reason="auth"
            ) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(f"{e.recipient} ({e.code})" for e in exc.recipients)
            raise self._http.error(
                f"all recipients refused: {refused}", retryable=False, reason="rejected"
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            temporary = 400 <= exc.code < 500
            raise self._http.error(
                f"server answered {exc.code} {exc.message}",
                retryable=temporary,
                reason="rejected",
            ) from None
        except (aiosmtplib.SMTPTimeoutError, TimeoutError):
            raise self._http.error(
                f"no answer within {config.timeout:g}s", retryable=True, reason="timeout"
            ) from None
        except ssl.SSLError as exc:
            raise self._http.error(
                f"TLS failed: {exc.reason or type(exc).__name__}", retryable=True, reason="tls"
            ) from None
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError) as exc:
            raise self._http.error(
                f"connection failed ({type(exc).__name__})", retryable=True, reason="connection"
            ) from None
        except aiosmtplib.SMTPException as exc:
            raise self._http.error(
                f"SMTP error ({type(exc).__name__})", retryable=True, reason="other"
            ) from None
        finally:
            if smtp.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await smtp.quit()
            # Also after a failed handshake or a server hang-up, whose transport aiosmtplib
            # may not have closed itself.
            smtp.close()
