"""Routes the template declares before their behaviour lands answer 501 with a machine-readable reason."""

from __future__ import annotations

from typing import NoReturn

from qbsync.errors import NotImplementedYetError


def not_implemented(feature: str) -> NoReturn:
    raise NotImplementedYetError(
        f"{feature} is not implemented yet", details={"feature": feature}
    )
