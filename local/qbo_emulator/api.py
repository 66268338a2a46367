"""Accounting API handlers under /v3/company/{realmId}/... (auth, limits and faults are applied before
these run, in server.py). Each returns (response, is_write); writes can have their answer dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from . import jsonio
from .batch import run_batch
from .cdc import run_cdc
from .company import Company
from .entities import BY_URL, EntityType
from .entities.singletons import company_info, preferences
from .errors import (
    malformed_bytes,
    malformed_request,
    object_not_found,
    query_parse_error,
    string_length,
    unsupported_operation,
)
from .exchange_rates import read_rate, write_rate
from .pdf import render_pdf
from .query import run_query
from .responses import json_response

if TYPE_CHECKING:
    from .emulator import QboEmulator

Handled = tuple[Response, bool]
REQUESTID_MAX = 50
BATCH_REQUESTID_MAX = 36


class AccountingApi:
    def __init__(self, emu: QboEmulator) -> None:
        self.emu = emu

    # ---- helpers -----------------------------------------------------------------------------------
    def envelope(self, company: Company, body: dict[str, Any]) -> Response:
        body["time"] = company.response_time(self.emu.clock.now())
        return json_response(body)

    @staticmethod
    def entity_type(url_name: str, *, writable: bool = False) -> EntityType:
        etype = BY_URL.get(url_name)  # URIs are case sensitive (QBO.md §2.1): /Invoice is not /invoice
        if etype is None or (writable and not etype.api_writable):
            raise unsupported_operation(f"for resource {url_name!r}")
        return etype

    @staticmethod
    def json_body(request: Request) -> Any:
        if request.mimetype not in ("", "application/json"):
            raise unsupported_operation(f"with Content-Type {request.mimetype!r} (use application/json)")
        try:
            return jsonio.loads(request.get_data())
        except jsonio.MalformedJson as exc:
            text = str(exc)
            if "MalformedByteSequenceException" in text:
                raise malformed_bytes(text) from None
            raise malformed_request(f"malformed JSON: {text}") from None

    def replayable(
        self, company: Company, request: Request, max_len: int, run: Callable[[], Response]
    ) -> Response:
        """requestid idempotency (QBO.md §2.1): a repeated requestid gets the original answer, unexecuted.
        Only successful answers are remembered, so a write that failed validation can be retried."""
        requestid = request.args.get("requestid")
        if requestid is None:
            return run()
        if not requestid or len(requestid) > max_len:
            raise string_length("requestid", max_len, len(requestid))
        with company.lock:  # re-entrant: the engine takes it again; concurrent duplicates wait and replay
            cached = company.request_cache.get(requestid)
            if cached is not None:
                self.emu.stats.event("replayed_requestids")
                status, body, content_type = cached
                return Response(body, status=status, content_type=content_type)
            response = run()
            if 200 <= response.status_code < 300:
                company.request_cache[requestid] = (
                    response.status_code,
                    response.get_data(),
                    response.content_type,
                )
            return response

    # ---- endpoints ---------------------------------------------------------------------------------
    def write(self, request: Request, company: Company, entity: str) -> Handled:
        etype = self.entity_type(entity, writable=True)
        operation = request.args.get("operation")
        include = {part.strip() for part in request.args.get("include", "").split(",") if part.strip()}

        def run() -> Response:
            body = self.json_body(request)
            engine = self.emu.engine
            if operation == "delete":
                result = engine.delete(company, etype, body)
            elif operation == "void":
                result = engine.void(company, etype, body, style="void")
            elif operation == "update" and "void" in include:
                result = engine.void(company, etype, body, style="include_void")
            elif operation not in (None, "update", "create"):
                raise unsupported_operation(repr(operation))
            elif isinstance(body, dict) and body.get("Id") not in (None, ""):
                result = engine.update(
                    company,
                    etype,
                    body,
                    sparse=body.get("sparse") is True,
                    allow_duplicate_docnum="allowduplicatedocnum" in include,
                )
            else:
                result = engine.create(
                    company, etype, body, allow_duplicate_docnum="allowduplicatedocnum" in include
                )
            return self.envelope(company, {etype.name: result})

        return self.replayable(company, request, REQUESTID_MAX, run), True

    def read(self, request: Request, company: Company, entity: str, record_id: str) -> Handled:
        etype = self.entity_type(entity)
        return self.envelope(company, {etype.name: self.emu.engine.read(company, etype, record_id)}), False

    def query(self, request: Request, company: Company) -> Handled:
        if request.method == "POST":
            if request.mimetype not in ("application/text", "text/plain"):
                raise unsupported_operation(
                    f"query with Content-Type {request.mimetype!r} (use application/text)"
                )
            try:
                text = request.get_data().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise malformed_bytes(f"MalformedByteSequenceException: {exc}") from None
        else:
            text = request.args.get("query", "")
        if not text.strip():
            raise query_parse_error('Encountered "<EOF>" at line 1, column 1.')
        result = run_query(company, text, self.emu.settings)
        return self.envelope(company, {"QueryResponse": result}), False

    def cdc(self, request: Request, company: Company) -> Handled:
        now = self.emu.clock.now()
        result = run_cdc(company, request.args.get("entities"), request.args.get("changedSince"), now)
        return self.envelope(company, {"CDCResponse": result}), False

    def batch(self, request: Request, company: Company) -> Handled:
        def run() -> Response:
            body = self.json_body(request)
            answers = run_batch(
                self.emu.engine,
                company,
                body,
                requestid=request.args.get("requestid"),
                query=lambda text: run_query(company, text, self.emu.settings),
                shuffle=self.emu.faults.shuffle,
            )
            return self.envelope(company, {"BatchItemResponse": answers})

        return self.replayable(company, request, BATCH_REQUESTID_MAX, run), True

    def company_info(self, request: Request, company: Company, record_id: str) -> Handled:
        if record_id != company.realm_id:
            raise object_not_found()
        return self.envelope(company, {"CompanyInfo": company_info(company)}), False

    def preferences(self, request: Request, company: Company) -> Handled:
        return self.envelope(company, {"Preferences": preferences(company)}), False

    def exchange_rate(self, request: Request, company: Company) -> Handled:
        """GET reads the rate in effect for `sourcecurrencycode` on `asofdate` (default today in the
        company's zone); POST sets one (QBO.md §4.9; exchange_rates.py)."""
        if request.method == "GET":
            with company.lock:
                body = read_rate(
                    company,
                    request.args.get("sourcecurrencycode"),
                    request.args.get("asofdate"),
                    self.emu.clock.now(),
                )
            return self.envelope(company, {"ExchangeRate": body}), False

        def run() -> Response:
            body = self.json_body(request)
            with company.lock:
                result = write_rate(company, body, self.emu.clock.now())
            return self.envelope(company, {"ExchangeRate": result})

        return self.replayable(company, request, REQUESTID_MAX, run), True

    def send(self, request: Request, company: Company, entity: str, record_id: str) -> Handled:
        etype = self.entity_type(entity, writable=True)

        def run() -> Response:
            result = self.emu.engine.send(company, etype, record_id, request.args.get("sendTo"))
            return self.envelope(company, {etype.name: result})

        return self.replayable(company, request, REQUESTID_MAX, run), True

    def pdf(self, request: Request, company: Company, entity: str, record_id: str) -> Handled:
        etype = self.entity_type(entity)
        if etype.name not in ("Invoice", "SalesReceipt"):
            raise unsupported_operation(f"pdf for {etype.name}")
        body = self.emu.engine.read(company, etype, record_id)
        lines = [
            f"{company.settings.name}",
            f"{etype.name} {body.get('DocNumber', '')}",
            f"Customer: {body['CustomerRef'].get('name', body['CustomerRef']['value'])}",
            f"Date: {body.get('TxnDate', '')}",
        ]
        for line in body.get("Line", []):
            if line.get("DetailType") == "SalesItemLineDetail":
                lines.append(
                    f"{line.get('Description') or line['SalesItemLineDetail']['ItemRef'].get('name', '')}"
                    f"  {line['Amount']}"
                )
        lines.append(f"Total {body['CurrencyRef']['value']} {body['TotalAmt']}")
        return Response(render_pdf(lines), status=200, content_type="application/pdf"), False


__all__ = ["AccountingApi"]
