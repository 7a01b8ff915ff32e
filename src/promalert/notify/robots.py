"""What the WeCom and DingTalk group robots share: HTTP 200 with ``{"errcode", "errmsg"}``.

Both answer every request with HTTP 200 and report failure in the body: ``errcode`` 0
is success; a few codes mean "too fast" or "busy" (retry later), some mean the robot's
credentials are wrong (never retry), anything else is a provider error (not retried).
"""

from __future__ import annotations

from collections.abc import Collection

from promalert.notify.http import HttpSender, Response


def check_errcode(
    http: HttpSender,
    response: Response,
    *,
    rate_codes: Collection[int],
    busy_codes: Collection[int],
    auth_codes: Collection[int],
) -> None:
    """Raise the NotifyError the status or ``errcode`` calls for; return on success."""
    answer = response.json()
    if not response.ok:
        detail = ""
        if isinstance(answer, dict) and "errmsg" in answer:
            detail = f"errcode {answer.get('errcode')}: {answer.get('errmsg')}"
        http.check(response, detail)
    if not isinstance(answer, dict) or not isinstance(answer.get("errcode"), int):
        raise http.error(
            "answer is not the robot's JSON {errcode, errmsg}",
            retryable=True,
            reason="provider_error",
            response=response,
        )
    code = answer["errcode"]
    if code == 0:
        return
    detail = f"errcode {code}: {answer.get('errmsg', '')}"
    if code in rate_codes:
        raise http.error(detail, retryable=True, reason="rate_limited", response=response)
    if code in busy_codes:
        raise http.error(detail, retryable=True, reason="provider_error", response=response)
    if code in auth_codes:
        raise http.error(detail, retryable=False, reason="auth", response=response)
    raise http.error(detail, retryable=False, reason="provider_error", response=response)


def cut_bytes(text: str, limit: int, marker: str = "...") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (never inside a character)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    room = limit - len(marker.encode())
    return data[:room].decode("utf-8", "ignore").rstrip() + marker
