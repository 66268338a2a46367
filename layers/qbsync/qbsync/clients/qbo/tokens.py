"""The tokens Intuit hands out, with every lifetime turned into an absolute time (QBO.md §1.5, §1.6).

Intuit answers in seconds-from-now: `expires_in` (access token, 1 h), `x_refresh_token_expires_in`
(refresh token, ~100 days, rolling) and, when asked for with the opt-in header,
`x_refresh_token_hard_expires_in` (the 5-year cap that no refresh extends). Seconds-from-now mean nothing
once stored, so `TokenSet` keeps the moments they end, counted from when the answer arrived.

Tokens are `SecretStr`: printing, logging or `repr()`-ing a TokenSet shows `**********`; code that must
send or store one calls `.get_secret_value()` on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr


def _seconds(payload: Mapping[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    seconds = int(value)
    if seconds < 0:
        raise ValueError(f"{name} is negative")
    return seconds


def _after(moment: datetime, seconds: int | None) -> datetime | None:
    return None if seconds is None else moment + timedelta(seconds=seconds)


class TokenSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr
    token_type: str = "bearer"
    obtained_at: datetime
    access_token_expires_at: datetime
    refresh_token_expires_at: datetime | None = None
    refresh_token_hard_expires_at: datetime | None = None
    id_token: SecretStr | None = None

    @classmethod
    def from_token_response(cls, payload: Mapping[str, Any], *, received_at: datetime) -> TokenSet:
        """`received_at` must carry a UTC offset; lifetimes count from it (a little early: safe)."""
        if received_at.tzinfo is None:
            raise ValueError("received_at needs a UTC offset")
        access_seconds = _seconds(payload, "expires_in")
        return cls(
            access_token=payload["access_token"],
            refresh_token=payload["refresh_token"],
            token_type=str(payload.get("token_type") or "bearer"),
            obtained_at=received_at,
            # An answer without expires_in gets Intuit's documented hour (QBO.md §1.6).
            access_token_expires_at=received_at
            + timedelta(seconds=3600 if access_seconds is None else access_seconds),
            refresh_token_expires_at=_after(received_at, _seconds(payload, "x_refresh_token_expires_in")),
            refresh_token_hard_expires_at=_after(
                received_at, _seconds(payload, "x_refresh_token_hard_expires_in")
            ),
            id_token=payload.get("id_token") or None,
        )

    @property
    def refresh_token_usable_until(self) -> datetime | None:
        """The earlier of the rolling and the hard expiry: after it, only a reconnect helps."""
        ends = [end for end in (self.refresh_token_expires_at, self.refresh_token_hard_expires_at) if end]
        return min(ends) if ends else None

    def access_token_expires_within(self, margin: timedelta, *, now: datetime) -> bool:
        return self.access_token_expires_at - now <= margin

    def oauth2_token(self) -> dict[str, Any]:
        """The token dict an `OAuth2Session` wants (it adds the Bearer header and checks `expires_at`)."""
        return {
            "access_token": self.access_token.get_secret_value(),
            "token_type": "Bearer",
            "expires_at": self.access_token_expires_at.timestamp(),
        }
