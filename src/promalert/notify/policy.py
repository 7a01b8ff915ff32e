"""How one integration's notifications are delivered: retries, rate limits, digests.

Built from a channel config's ``retry``, ``rate_limit``, ``recipient_rate_limit`` and
``digest`` keys. Decisions here are pure functions of (policy, attempt, age, random
number) so the delivery worker's behaviour is tested without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

from promalert.config.receivers import (
    ChannelConfig,
    RateLimit,
    RecipientChannelConfig,
)


def retry_delay(
    attempts: int,
    jitter: float,
    *,
    base: float = 1.0,
    factor: float = 2.0,
    cap: float = 300.0,
    spread: float = 0.2,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: exponential, with jitter.

    ``jitter`` is a random number in [0, 1); the wait is scaled by a factor in
    [1 - spread, 1 + spread] so that many failed deliveries to one endpoint do not
    retry in lockstep.
    """
    raw = base * factor ** min(max(attempts - 1, 0), 64)
    return min(cap, raw * (1.0 - spread + 2.0 * spread * jitter))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts (0 = unbounded) and age."""

    attempts: int = 0
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    max_age: float = 3600.0
    jitter: float = 0.2

    def delay(self, attempts: int, random: float) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones."""
        return retry_delay(
            attempts,
            random,
            base=self.base_delay,
            factor=self.factor,
            cap=self.max_delay,
            spread=self.jitter,
        )

    def gives_up(self, attempts: int, age: float) -> bool:
        """True when no attempt should follow the ``attempts``-th, ``age`` s after queueing."""
        if self.attempts and attempts >= self.attempts:
            return True
        return age >= self.max_age


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` sends in any ``per`` seconds."""

    count: int
    per: float

    @classmethod
    def from_config(cls, config: RateLimit | None) -> Limit | None:
        """The limit of a config, or None."""
        return None if config is None else cls(config.count, config.per)


@dataclass(frozen=True, slots=True)
class DigestPolicy:
    """Hold low-priority notifications and send them together."""

    interval: float
    max_size: int
    priorities: frozenset[str]


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Everything the delivery worker needs to know about one integration."""

    # None: the worker's default retry policy.
    retry: RetryPolicy | None = None
    rate_limit: Limit | None = None
    recipient_limit: Limit | None = None
    recipients: tuple[str, ...] = ()
    digest: DigestPolicy | None = None

    @classmethod
    def from_config(cls, config: ChannelConfig) -> DeliveryPolicy:
        """The policy a channel config asks for."""
        retry = None
        if config.retry is not None:
            r = config.retry
            retry = RetryPolicy(
                r.attempts, r.base_delay, r.factor, r.max_delay, r.max_age, r.jitter
            )
        digest = None
        if config.digest is not None:
            d = config.digest
            digest = DigestPolicy(d.interval, d.max_size, frozenset(d.priorities))
        recipient_limit = None
        if isinstance(config, RecipientChannelConfig):
            recipient_limit = Limit.from_config(config.recipient_rate_limit)
        return cls(
            retry=retry,
            rate_limit=Limit.from_config(config.rate_limit),
            recipient_limit=recipient_limit,
            recipients=tuple(config.recipients()),
            digest=digest,
        )
