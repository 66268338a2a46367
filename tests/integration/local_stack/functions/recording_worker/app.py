"""A stand-in queue worker for the local stack's own tests: records every delivery, fails "poison"."""

import json
import os


def handler(event, context):
    failures = []
    with open(os.environ["QBSYNC_TEST_RECORDS"], "a", encoding="utf-8") as records:
        for record in event["Records"]:
            records.write(json.dumps({
                "body": record["body"],
                "receive_count": int(record["attributes"]["ApproximateReceiveCount"]),
                "group": record["attributes"].get("MessageGroupId"),
            }) + "\n")
            if record["body"] == "poison":
                failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
