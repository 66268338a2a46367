"""`make run`: start the local stack, print what runs where, serve until Ctrl-C."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path

from qbsync_local.config import LocalConfig
from qbsync_local.stack import LocalStack


def write_stack_file(stack: LocalStack) -> Path:
    """Where `qbsync-admin --local` finds this stack (moto's address and the stack name)."""
    from qbsync_local.aws import REGION, STACK_NAME

    path = Path(".local-stack") / "stack.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"stack_name": STACK_NAME, "region": REGION, "endpoint_url": stack.moto.url,
                                "api_url": stack.api.url}))
    return path


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    # moto and werkzeug log every request; ours already says what was invoked.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    config = LocalConfig.from_environ()
    stack = LocalStack(config)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack.start()
    announce = write_stack_file(stack)
    try:
        width = max(len(name) for name, _ in stack.describe())
        print("\nqbsync is running locally:\n", flush=True)
        for name, where in stack.describe():
            print(f"  {name.ljust(width)}  {where}", flush=True)
        print(f"\n  try: curl {stack.api.url}/health\n  Ctrl-C stops everything.\n", flush=True)
        stop.wait()
    finally:
        print("stopping...", flush=True)
        announce.unlink(missing_ok=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
