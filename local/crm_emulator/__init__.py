"""The CRM emulator (dev/test only, never in a Lambda package).

- `CrmEmulator`: the CRM's side of qbsync's outbound REST contract, on 127.0.0.1 (see README.md);
- `CrmWebhookSender`: sends the CRM's inbound webhooks to qbsync, signed (or deliberately not);
- `crm_emulator.builders`: realistic inbound events with internally consistent totals.
"""

from crm_emulator.server import CrmEmulator
from crm_emulator.webhooks import CrmWebhookSender, PreparedWebhook, random_secret

__all__ = ["CrmEmulator", "CrmWebhookSender", "PreparedWebhook", "random_secret"]
