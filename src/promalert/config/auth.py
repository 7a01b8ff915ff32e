"""``server.auth`` (SPEC §6): bearer tokens with roles for the HTTP API."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from promalert.config.base import Strict

Role = Literal["viewer", "sender", "responder", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "sender", "responder", "admin")
"""Every role includes the ones before it."""


class TokenConfig(Strict):
    """One API token: who holds it and what it may do."""

    secret_fields: ClassVar[tuple[str, ...]] = ("token",)
    name: str = Field(min_length=1)
    token: SecretStr
    role: Role = "viewer"

    @model_validator(mode="after")
    def _long_enough(self) -> TokenConfig:
        if len(self.token.get_secret_value()) < 16:
            raise ValueError(f"token of {self.name!r} is too short: use at least 16 characters")
        return self


class AuthConfig(Strict):
    """Who may call the API: reads are open or need a token; writes always need one."""

    tokens: list[TokenConfig] = Field(min_length=1)
    read: Literal["open", "token"] = "open"

    @model_validator(mode="after")
    def _unique(self) -> AuthConfig:
        names = [t.name for t in self.tokens]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"token names must be unique: {', '.join(dupes)}")
        secrets = [t.token.get_secret_value() for t in self.tokens]
        if len(set(secrets)) != len(secrets):
            raise ValueError("two tokens have the same value: give each holder their own")
        return self


def role_allows(role: Role, needed: Role) -> bool:
    """True when ``role`` includes ``needed``."""
    return ROLES.index(role) >= ROLES.index(needed)
