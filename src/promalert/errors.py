"""Exceptions raised by promalert.

The tree::

    PromalertError                 base of every error promalert raises on purpose
    ├── ConfigError                configuration or rule files are invalid; holds every Problem
    ├── DatasourceError            a query to Prometheus failed
    │   ├── DatasourceUnavailable  no answer: connection refused, timeout, HTTP 5xx
    │   └── QueryError             Prometheus answered with an error (bad PromQL, 4xx, bad JSON)
    ├── RuleEvaluationError        a rule could not be evaluated (e.g. duplicate label sets)
    ├── TemplateError              an annotation or notification template failed to render
    ├── NotifyError                one notification attempt failed; says whether to retry
    ├── SilenceError               a silence cannot be created, updated or expired
    │   └── SilenceNotFound        no silence has the given id
    └── StoreError                 the store could not be opened or migrated
"""

from __future__ import annotations

from dataclasses import dataclass


class PromalertError(Exception):
    """Base of every error promalert raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a file, located by 1-based line and column."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class ConfigError(PromalertError):
    """Configuration or rule files are invalid; ``problems`` lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class DatasourceError(PromalertError):
    """A query to the datasource failed."""


class DatasourceUnavailable(DatasourceError):
    """The datasource gave no usable answer: refused, timed out or a 5xx."""


class QueryError(DatasourceError):
    """The datasource answered with an error for this query (bad PromQL, 4xx, bad JSON)."""


class RuleEvaluationError(PromalertError):
    """A rule could not be evaluated."""


class TemplateError(PromalertError):
    """A template failed to render; the message names the template."""


class NotifyError(PromalertError):
    """One notification attempt failed.

    ``retryable`` tells the delivery loop whether another attempt may succeed;
    ``reason`` is one of :data:`promalert.notify.base.FAILURE_REASONS`;
    ``retry_after`` is the wait in seconds the provider asked for (``429 Retry-After``).
    """

    def __init__(
        self, message: str, *, retryable: bool, reason: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason
        self.retry_after = retry_after


class SilenceError(PromalertError):
    """A silence cannot be created, updated or expired; the message says why."""


class SilenceNotFound(SilenceError):
    """No silence has the given id."""


class StoreError(PromalertError):
    """The store could not be opened, migrated or written."""
