"""`qbsync-admin`: tenants, status, dead letters and redrive, against AWS or the local stack.

    qbsync-admin [--stack-name qbsync] [--profile P] [--region R] [--endpoint-url URL | --local] COMMAND
      tenants
      status TENANT
      dlq list [--tenant T]
      dlq show MESSAGE_ID
      dlq redrive (--tenant T | --id ID [--id ID ...] | --all) [--dry-run]

Output is JSON on stdout (pipe it to jq); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from qbsync_admin.stack_environment import Target, adopt_stack_environment


_OUTPUT: list[Any] = [None]  # --output PATH, else stdout


def _print(value: Any) -> None:
    from qbsync.utils.jsonio import dumps

    text = json.dumps(json.loads(dumps(value)), indent=2)
    if _OUTPUT[0]:
        with open(_OUTPUT[0], "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)


def _queues_and_sqs() -> tuple[list[Any], Any]:
    from qbsync.aws_clients import client
    from qbsync.composition import dead_letter_queues

    return dead_letter_queues(), client("sqs")


def cmd_tenants(_: argparse.Namespace) -> int:
    from qbsync.composition import connections_repository

    tenants: dict[str, list[dict[str, str]]] = {}
    for connection in tqdm(connections_repository().iter_all(), desc="scanning connections", unit=" companies",
                           file=sys.stderr, leave=False):
        tenants.setdefault(connection.tenant_id, []).append({"realm_id": connection.realm_id,
                                                             "status": connection.status})
    _print({"tenants": [{"tenant_id": t, "companies": c} for t, c in sorted(tenants.items())]})
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from qbsync import composition
    from qbsync.errors import NotFoundError
    from qbsync.sync.failures import list_failures
    from qbsync.sync.tenant_status import status_of

    queues, sqs = _queues_and_sqs()
    try:
        answer = status_of(args.tenant, connections=composition.connections_repository(),
                           stats=composition.sync_stats_repository(), poll_state=composition.sync_state_repository(),
                           list_failures=lambda tenant: list_failures(tenant, queues=queues, sqs=sqs))
    except NotFoundError as error:
        print(f"qbsync-admin: {error.message}", file=sys.stderr)
        return 2
    _print(answer.model_dump(mode="json"))
    return 0


def _selector(args: argparse.Namespace) -> Any:
    from qbsync.queues.redrive import of_tenant, with_any_id

    if getattr(args, "id", None):
        return with_any_id(args.id)
    if getattr(args, "tenant", None):
        return of_tenant(args.tenant)
    return lambda letter: True


def cmd_dlq_list(args: argparse.Namespace) -> int:
    from qbsync.queues.redrive import peek
    from qbsync.sync.failures import as_failure

    queues, sqs = _queues_and_sqs()
    letters = peek(sqs, queues, select=_selector(args))
    _print({"failures": [{"tenant_id": letter.tenant_id, **as_failure(letter).model_dump(mode="json")}
                         for letter in letters]})
    return 0


def cmd_dlq_show(args: argparse.Namespace) -> int:
    from qbsync.queues.redrive import peek, with_any_id

    queues, sqs = _queues_and_sqs()
    found = peek(sqs, queues, select=with_any_id([args.message_id]))
    if not found:
        print(f"qbsync-admin: no dead letter {args.message_id}", file=sys.stderr)
        return 2
    letter = found[0]
    _print({"message_id": letter.message_id, "original_message_id": letter.original_message_id,
            "queue": letter.queue, "tenant_id": letter.tenant_id, "group_id": letter.group_id,
            "reason": {"code": letter.reason.code, "message": letter.reason.message, "details": letter.reason.details},
            "failed_at": letter.failed_at, "attributes": {k: v.get("StringValue") for k, v in letter.attributes.items()},
            "body": letter.body})
    return 0


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    from qbsync.queues.redrive import DeadLetterScan, peek, send_back

    queues, sqs = _queues_and_sqs()
    select = _selector(args)
    if args.dry_run:
        letters = peek(sqs, queues, select=select)
        _print({"dry_run": True, "would_redrive": [{"message_id": l.message_id, "queue": l.queue,
                                                    "tenant_id": l.tenant_id, "reason": l.reason.code}
                                                   for l in letters]})
        return 0
    redriven, failed = 0, []
    with tqdm(desc="redriving", unit=" messages", file=sys.stderr) as progress:
        for queue in queues:
            with DeadLetterScan(sqs, queue) as scan:
                for letter in scan:
                    if not select(letter):
                        continue
                    try:
                        send_back(sqs, queue, letter)
                    except Exception as error:  # noqa: BLE001 - reported, the message stays on the DLQ
                        failed.append({"message_id": letter.message_id, "error": type(error).__name__})
                        continue
                    scan.delete(letter)
                    redriven += 1
                    progress.update(1)
    _print({"redriven": redriven, "failed": failed})
    return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="qbsync-admin", description=__doc__.split("\n\n")[0])
    root.add_argument("--stack-name", default="qbsync")
    root.add_argument("--profile")
    root.add_argument("--region")
    root.add_argument("--output", help="write the JSON answer to this file instead of stdout")
    where = root.add_mutually_exclusive_group()
    where.add_argument("--endpoint-url", help="an AWS-compatible endpoint (e.g. the local stack's moto)")
    where.add_argument("--local", action="store_true", help="the stack `make run` started")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("tenants", help="every tenant and its companies").set_defaults(run=cmd_tenants)
    status = commands.add_parser("status", help="a tenant's sync status")
    status.add_argument("tenant")
    status.set_defaults(run=cmd_status)
    dlq = commands.add_parser("dlq", help="dead-lettered messages").add_subparsers(dest="dlq_command", required=True)
    listing = dlq.add_parser("list")
    listing.add_argument("--tenant")
    listing.set_defaults(run=cmd_dlq_list)
    show = dlq.add_parser("show")
    show.add_argument("message_id")
    show.set_defaults(run=cmd_dlq_show)
    redrive = dlq.add_parser("redrive")
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--tenant")
    which.add_argument("--id", action="append", help="a message id (repeatable)")
    which.add_argument("--all", action="store_true")
    redrive.add_argument("--dry-run", action="store_true")
    redrive.set_defaults(run=cmd_dlq_redrive)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _OUTPUT[0] = args.output
    target = Target.local() if args.local else Target(stack_name=args.stack_name, region=args.region,
                                                      profile=args.profile, endpoint_url=args.endpoint_url)
    adopt_stack_environment(target)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
