"""A local QuickBooks Online emulator (Accounting API v3 + Intuit OAuth 2.0) for development and tests.

    from qbo_emulator import QboEmulator
    emu = QboEmulator().start()
    realm = emu.create_company(country="US")

See README.md for the behaviour, the control API, and every choice made where QBO.md is unconfirmed.
"""

from .clock import Clock
from .emulator import QboEmulator
from .webhooks import sign as sign_webhook

__all__ = ["Clock", "QboEmulator", "sign_webhook"]
