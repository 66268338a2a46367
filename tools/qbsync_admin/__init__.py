"""qbsync-admin: the operator's command line (issue 7): tenants, status, dead letters and redrive."""
