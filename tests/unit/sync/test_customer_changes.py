"""F14: which CRM-filled customer fields differ from what QBO holds (`customer_changes`, pure)."""

from __future__ import annotations

from qbsync.sync.crm_events.customers import customer_changes, fields_hash

EMAIL = "ada@example.com"
WANTED = {"DisplayName": "Ada Lovelace", "PrimaryEmailAddr": {"Address": EMAIL},
          "BillAddr": {"Line1": "1 Main St", "City": "London", "Country": "GB"}}


def test_nothing_differs_when_qbo_holds_the_fields_with_its_own_additions():
    held = {"Id": "7", "SyncToken": "3", "DisplayName": "Ada Lovelace", "PrimaryEmailAddr": {"Address": EMAIL},
            "BillAddr": {"Id": "12", "Line1": "1 Main St", "City": "London", "Country": "GB", "Lat": "51.5"},
            "Notes": "someone's note", "PrimaryPhone": {"FreeFormNumber": "+44 1"}}
    assert customer_changes(WANTED, held, EMAIL) == {}


def test_a_name_with_qbsyncs_clash_suffix_counts_as_the_name_even_after_an_email_change():
    for held_name in (f"Ada Lovelace ({EMAIL})", "Ada Lovelace (old.address@example.com)"):
        held = {**WANTED, "DisplayName": held_name}
        assert customer_changes(WANTED, held, EMAIL) == {}
    assert customer_changes(WANTED, {**WANTED, "DisplayName": "Ada Lovelace Ltd"}, EMAIL) == {
        "DisplayName": "Ada Lovelace"}


def test_changed_and_missing_fields_are_sent_whole():
    held = {"DisplayName": "Ada Lovelace", "PrimaryEmailAddr": {"Address": "old@example.com"},
            "BillAddr": {"Line1": "1 Main St", "Line2": "Flat 2", "City": "London", "Country": "GB"}}
    assert customer_changes(WANTED, held, EMAIL) == {"PrimaryEmailAddr": WANTED["PrimaryEmailAddr"],
                                                     "BillAddr": WANTED["BillAddr"]}


def test_the_hash_ignores_key_order_but_not_values():
    assert fields_hash(WANTED) == fields_hash(dict(reversed(list(WANTED.items()))))
    assert fields_hash(WANTED) != fields_hash({**WANTED, "PrimaryEmailAddr": {"Address": "other@example.com"}})
