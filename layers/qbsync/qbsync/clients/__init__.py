"""HTTP clients for the services qbsync talks to, built like stripe-python's: an explicit client object with
keyword-only options and an injectable session, timeouts always set, one error mapping, a unit-tested retry
policy and an idempotency key on every write. `qbo` is QuickBooks Online (and Intuit OAuth); `crm` is
the CRM."""
