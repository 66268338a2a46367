"""A stand-in API function whose route raises, to see the 500 every real handler gives."""

from qbsync.api.resolver import build_resolver

app = build_resolver()


@app.post("/webhooks/qbo")
def explode():
    raise RuntimeError("access_token=very-secret must never reach the client")


def handler(event, context):
    return app.resolve(event, context)
