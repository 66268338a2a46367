"""Property-based tests of the three signature checks (issue 9 §2): a genuine signature always verifies,
any tampering never does, and hostile header soup raises nothing but the documented refusal."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from qbsync.signatures.connect_link import ConnectLinkRejectedError, sign_connect_link, verify_connect_link
from qbsync.signatures.intuit import intuit_signature, verify_intuit_signature
from qbsync.signatures.standard_webhooks import WebhookVerificationError, sign, verify

NOW = 1_790_000_000
settings.register_profile("qbsync-hostile", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("qbsync-hostile")

secrets = st.binary(min_size=1, max_size=64).map(lambda key: "whsec_" + base64.b64encode(key).decode())
message_ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64)
bodies = st.binary(max_size=2048)
timestamps = st.integers(min_value=NOW - 300, max_value=NOW + 300)
# Header values as they reach a handler: any text but lone surrogates (HTTP bytes decode to real characters).
header_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


def _flip(data: bytes, position: int, bit: int) -> bytes:
    index = position % len(data)
    return data[:index] + bytes([data[index] ^ (1 << bit)]) + data[index + 1 :]


def _headers(msg_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


# --- Standard Webhooks (POST /webhooks/crm) ------------------------------------------------------------


@given(
    secret=secrets,
    msg_id=message_ids,
    timestamp=timestamps,
    body=bodies,
    others=st.lists(secrets, max_size=3),
    position=st.integers(min_value=0, max_value=3),
)
def test_genuine_standard_webhook_always_verifies(secret, msg_id, timestamp, body, others, position):
    """Whatever the body, whichever of the receiver's secrets signed it, wherever its signature sits among
    others (a sender rotating secrets signs with several)."""
    receiver = list(others)
    receiver.insert(position % (len(receiver) + 1), secret)
    noise = [sign(other, msg_id, timestamp, body + b"x") for other in others]
    signatures = noise[:position] + [sign(secret, msg_id, timestamp, body)] + noise[position:]
    verify(receiver, _headers(msg_id, timestamp, " ".join(signatures)), body, now=NOW)


@given(
    secret=secrets,
    msg_id=message_ids,
    timestamp=timestamps,
    body=bodies.filter(bool),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_flipped_body_bit_never_verifies(secret, msg_id, timestamp, body, position, bit):
    signature = sign(secret, msg_id, timestamp, body)
    tampered = _flip(body, position, bit)
    try:
        verify([secret], _headers(msg_id, timestamp, signature), tampered, now=NOW)
    except WebhookVerificationError:
        return
    raise AssertionError("a tampered body verified")


@given(
    secret=secrets,
    msg_id=message_ids,
    other_id=message_ids,
    timestamp=timestamps,
    delta=st.integers(1, 300),
    body=bodies,
)
def test_signature_is_bound_to_the_id_and_the_timestamp(secret, msg_id, other_id, timestamp, delta, body):
    assume(other_id != msg_id)
    signature = sign(secret, msg_id, timestamp, body)
    for headers in (_headers(other_id, timestamp, signature), _headers(msg_id, timestamp - delta, signature)):
        try:
            verify([secret], headers, body, now=NOW)
        except WebhookVerificationError:
            continue
        raise AssertionError(f"verified with {headers}")


@given(secret=secrets, wrong=secrets, msg_id=message_ids, timestamp=timestamps, body=bodies)
def test_another_secret_never_verifies(secret, wrong, msg_id, timestamp, body):
    assume(base64.b64decode(secret[6:]) != base64.b64decode(wrong[6:]))
    try:
        verify([secret], _headers(msg_id, timestamp, sign(wrong, msg_id, timestamp, body)), body, now=NOW)
    except WebhookVerificationError:
        return
    raise AssertionError("a signature made with another secret verified")


@given(
    secret=secrets,
    msg_id=message_ids,
    body=bodies,
    skew=st.one_of(st.integers(max_value=-301), st.integers(min_value=301)),
)
def test_stale_or_future_timestamps_never_verify(secret, msg_id, body, skew):
    timestamp = NOW + skew
    assume(0 <= timestamp < 10**12)
    try:
        verify([secret], _headers(msg_id, timestamp, sign(secret, msg_id, timestamp, body)), body, now=NOW)
    except WebhookVerificationError:
        return
    raise AssertionError("verified outside the tolerance")


@given(
    secret=secrets,
    headers=st.dictionaries(
        st.sampled_from(
            [
                "webhook-id",
                "Webhook-Id",
                "webhook-timestamp",
                "WEBHOOK-TIMESTAMP",
                "webhook-signature",
                "Webhook-Signature",
                "content-type",
                "x-other",
            ]
        ),
        header_text,
        max_size=8,
    ),
    body=bodies,
)
@example(
    secret="whsec_" + base64.b64encode(b"k").decode(),
    headers={
        "webhook-id": "a",
        "webhook-timestamp": "１７９００００００００",
        "webhook-signature": "v1,ÿ\x00é",
    },
    body=b"",
)
def test_header_soup_only_ever_raises_the_documented_refusal(secret, headers, body):
    try:
        verify([secret], headers, body, now=NOW)
    except WebhookVerificationError:
        return
    raise AssertionError(f"random headers verified: {headers!r}")


# --- connect links (GET /connect) ---------------------------------------------------------------------

tenant_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,40}", fullmatch=True)
return_urls = st.one_of(
    st.none(), st.from_regex(r"https://crm\.example\.com/[a-z0-9/?=&%._-]{0,60}", fullmatch=True)
)
lifetimes = st.integers(min_value=1, max_value=600)


@given(secret=secrets, tenant_id=tenant_ids, return_url=return_urls, lifetime=lifetimes)
def test_genuine_connect_link_always_verifies(secret, tenant_id, return_url, lifetime):
    expires = NOW + lifetime
    signature = sign_connect_link(secret, tenant_id=tenant_id, return_url=return_url, expires=expires)
    assert (
        verify_connect_link(
            [secret],
            tenant_id=tenant_id,
            return_url=return_url,
            expires=str(expires),
            signature=signature,
            now=NOW,
        )
        == expires
    )


@given(
    secret=secrets,
    tenant_id=tenant_ids,
    other_tenant=tenant_ids,
    return_url=return_urls,
    other_url=return_urls,
    lifetime=lifetimes,
    other_lifetime=lifetimes,
    which=st.integers(0, 3),
    position=st.integers(min_value=0),
    replacement=st.sampled_from("ABCxyz019-_"),
)
def test_tampered_connect_link_never_verifies(
    secret,
    tenant_id,
    other_tenant,
    return_url,
    other_url,
    lifetime,
    other_lifetime,
    which,
    position,
    replacement,
):
    expires = NOW + lifetime
    signature = sign_connect_link(secret, tenant_id=tenant_id, return_url=return_url, expires=expires)
    fields = {
        "tenant_id": tenant_id,
        "return_url": return_url,
        "expires": str(expires),
        "signature": signature,
    }
    if which == 0:
        assume(other_tenant != tenant_id)
        fields["tenant_id"] = other_tenant
    elif which == 1:
        assume((other_url or "") != (return_url or ""))
        fields["return_url"] = other_url
    elif which == 2:
        assume(other_lifetime != lifetime)
        fields["expires"] = str(NOW + other_lifetime)
    else:
        index = position % len(signature)
        assume(signature[index] != replacement)
        # the last base64url character of a 32-byte digest carries 2 padding bits: change a full one
        assume(index != len(signature) - 1)
        fields["signature"] = signature[:index] + replacement + signature[index + 1 :]
    try:
        verify_connect_link([secret], now=NOW, **fields)
    except ConnectLinkRejectedError:
        return
    raise AssertionError(f"a tampered link verified: {fields}")


@given(
    secret=secrets,
    tenant_id=tenant_ids,
    expires=st.text(max_size=20),
    signature=st.one_of(st.none(), header_text),
)
def test_connect_link_soup_only_ever_raises_the_documented_refusal(secret, tenant_id, expires, signature):
    assume(not (expires.isascii() and expires.isdigit()) or signature is None or len(signature) != 43)
    try:
        verify_connect_link(
            [secret], tenant_id=tenant_id, return_url=None, expires=expires, signature=signature, now=NOW
        )
    except ConnectLinkRejectedError:
        return
    raise AssertionError("random link fields verified")


# --- intuit-signature (POST /webhooks/qbo) --------------------------------------------------------------

verifier_tokens = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64)


@given(token=verifier_tokens, body=bodies)
def test_genuine_intuit_signature_always_verifies(token, body):
    assert verify_intuit_signature(token, intuit_signature(token, body), body)


@given(
    token=verifier_tokens,
    body=bodies.filter(bool),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_tampered_intuit_body_never_verifies(token, body, position, bit):
    assert not verify_intuit_signature(token, intuit_signature(token, body), _flip(body, position, bit))


@given(token=verifier_tokens, other=verifier_tokens, body=bodies)
def test_another_verifier_token_never_verifies(token, other, body):
    assume(token != other)
    assert not verify_intuit_signature(token, intuit_signature(other, body), body)


@given(token=verifier_tokens, header=st.one_of(st.none(), header_text), body=bodies)
@example(token="t", header="é\x00ÿ", body=b"")
def test_intuit_header_soup_is_false_never_an_exception(token, header, body):
    assume(header is None or header.strip() != intuit_signature(token, body))
    assert verify_intuit_signature(token, header, body) is False
