"""The generic REST CRM adapter: `CrmClient` and its error hierarchy."""

from qbsync.clients.crm.client import CrmClient
from qbsync.clients.crm.errors import (
    CrmAuthenticationError,
    CrmConflictError,
    CrmConnectionError,
    CrmError,
    CrmInvalidAnswerError,
    CrmRejectedError,
    CrmRetryableError,
    CrmServerError,
    CrmThrottledError,
)
from qbsync.clients.crm.retry import RetryPolicy

__all__ = [
    "CrmAuthenticationError",
    "CrmClient",
    "CrmConflictError",
    "CrmConnectionError",
    "CrmError",
    "CrmInvalidAnswerError",
    "CrmRejectedError",
    "CrmRetryableError",
    "CrmServerError",
    "CrmThrottledError",
    "RetryPolicy",
]
