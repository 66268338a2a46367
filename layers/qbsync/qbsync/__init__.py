"""qbsync: sync a CRM with QuickBooks Online. Built by SAM into a Lambda layer (/opt/python/qbsync)."""

__version__ = "0.1.0"
