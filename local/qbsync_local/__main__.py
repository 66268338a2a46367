"""`make run`: start the local stack, print what runs where, serve until Ctrl-C."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from qbsync_local.config import LocalConfig
from qbsync_local.stack import LocalStack


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
    try:
        width = max(len(name) for name, _ in stack.describe())
        print("\nqbsync is running locally:\n", flush=True)
        for name, where in stack.describe():
            print(f"  {name.ljust(width)}  {where}", flush=True)
        print(f"\n  try: curl {stack.api.url}/health\n  Ctrl-C stops everything.\n", flush=True)
        stop.wait()
    finally:
        print("stopping...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
