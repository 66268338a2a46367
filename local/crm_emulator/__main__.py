"""`python -m crm_emulator --port 8766`: run the CRM emulator alone (the local stack embeds it instead).

The outbound secret comes from `--outbound-secret` or `QBSYNC_CRM_OUTBOUND_SECRET` and is never printed.
"""

from __future__ import annotations

import argparse
import os
import threading

from crm_emulator.server import CrmEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="crm_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--outbound-secret", default=os.environ.get("QBSYNC_CRM_OUTBOUND_SECRET"))
    args = parser.parse_args(argv)
    if not args.outbound_secret:
        parser.error("give --outbound-secret or set QBSYNC_CRM_OUTBOUND_SECRET (a whsec_ secret)")
    emulator = CrmEmulator(outbound_secret=args.outbound_secret, host=args.host, port=args.port).start()
    print(f"CRM emulator listening on {emulator.url} (control API: {emulator.url}/_emulator/state)",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
