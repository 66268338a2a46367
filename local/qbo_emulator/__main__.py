"""Run the emulator on its own: `python -m qbo_emulator --port 8765 [--company US] [--app ID:SECRET:REDIRECT:VERIFIER]`."""

from __future__ import annotations

import argparse
import signal
import threading

from .emulator import QboEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m qbo_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--company",
        action="append",
        default=[],
        metavar="COUNTRY",
        help="create a company for this country (repeatable)",
    )
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="ID:SECRET:REDIRECT_URI:VERIFIER",
        help="register an OAuth app (the redirect URI may contain colons)",
    )
    args = parser.parse_args(argv)
    emu = QboEmulator(host=args.host, port=args.port).start()
    for spec in args.app:
        client_id, secret, rest = spec.split(":", 2)
        redirect_uri, _, verifier = rest.rpartition(":")
        emu.register_app(client_id, secret, [redirect_uri], verifier)
    for country in args.company:
        print(f"company {country}: realmId {emu.create_company(country=country)}")
    print(
        f"QBO emulator on {emu.url}\n  api:     {emu.api_base_url}\n  auth:    {emu.auth_url}\n"
        f"  token:   {emu.token_url}\n  revoke:  {emu.revoke_url}\n  control: {emu.control_url}",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    emu.stop()


if __name__ == "__main__":
    main()
