"""QBO → CRM (SPEC F5-F10, issue 6): contacts, products, invoice status and review requests.

How a change travels: a QBO webhook (`webhook.py`) or the schedule tick (`qbsync.sync.poll_schedule`, due-ness
in `due.py`) puts a poll job for one company on the poll FIFO queue, grouped by tenant (`jobs.py`). The poll
worker runs it (`runner.py`): QBO change-data-capture since the company's watermark, or a paged scan by query
for the backfill on connect and after a watermark older than CDC's 30 days (`scan.py`); then contacts and
products (`name_lists.py`), invoice status, deal roll-ups and invoices made in QBO (`invoice_sync.py`), review
requests (`reviews.py`); the watermark moves last, with a conditional write.

Design decisions (also in the hand-over notes):
- Watermark: the `time` QBO stamps on its CDC answer, never our clock; the next CDC asks from it less
  `CDC_OVERLAP` (2 minutes) so a change committed around that moment is not lost; what comes twice is
  skipped by content hash / SyncToken. A full scan by query has no server time to hand over (the client's
  query API does not expose it), so a scan's watermark is its start by our clock less `SCAN_MARGIN`
  (5 minutes of clock skew); the next CDC answer replaces it with QBO's time.
- No loops: qbsync's own writes into QBO come back through CDC. They never become new CRM contacts,
  products, QBO-invoices or review requests, because (1) the CRM → QBO side tags what it creates (Customer
  `Notes`, Invoice/Payment/SalesReceipt `PrivateNote`: `[qbsync crm_..._id=...]`), and (2) its mappings carry
  `origin: "crm"` (anything not marked `origin: "qbo"` counts as the CRM's). The invoice status such writes
  cause still goes back (F8), to the CRM invoice the mapping or tag names.
- Unchanged records are skipped by a content hash kept in the mapping state; mapping state also remembers
  the last invoice status reported (SyncToken + status), so an overlap or a replayed job sends nothing.
"""
