"""Signature checks: pure functions on raw bytes, constant-time compares, no I/O.

- `standard_webhooks`: inbound CRM webhooks and our outbound CRM calls (Standard Webhooks v1).
- `intuit`: the `intuit-signature` header of QBO webhooks.
- `connect_link`: the signed "Connect QuickBooks" link the CRM hands to its users.
"""
