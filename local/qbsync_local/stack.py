"""The whole service in one process: moto server, the template's stack in it, the real handlers behind a
local HTTP API, queue runners, schedule timers, and (unless real URLs are given) our QBO and CRM emulators.

Used by `make run` (qbsync_local.__main__), by the integration tests and by the benchmarks. One stack per
process at a time: it owns the process environment the handlers read (as a Lambda sandbox would).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

import boto3

from qbsync_local.api_gateway import LocalHttpApi, bind_routes
from qbsync_local.aws import AWS_ENV, REGION, DeployedStack, MotoServer, deploy_stack
from qbsync_local.config import LocalConfig
from qbsync_local.lambda_runtime import LocalFunction
from qbsync_local.queue_runner import QueueRunner
from qbsync_local.schedules import ScheduleTimer, rate_seconds
from qbsync_local.template import FunctionSpec, SamTemplate

from qbsync_local.logs import log


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reset_handler_caches() -> None:
    """Settings and boto3 clients are cached per cold start; a new stack in the same process is a new
    cold start (different moto port, different environment)."""
    from qbsync import aws_clients, composition, secrets, settings

    aws_clients.client.cache_clear()
    composition.clear_caches()
    settings.get_settings.cache_clear()
    secrets.clear_cache()


@dataclass
class LocalStack:
    config: LocalConfig = field(default_factory=LocalConfig.from_environ)
    start_queue_runners: bool = True
    start_schedules: bool = True
    functions_override: dict[str, FunctionSpec] = field(default_factory=dict)

    moto: MotoServer | None = field(default=None, init=False)
    deployed: DeployedStack | None = field(default=None, init=False)
    api: LocalHttpApi | None = field(default=None, init=False)
    functions: dict[str, LocalFunction] = field(default_factory=dict, init=False)
    queue_runners: dict[str, QueueRunner] = field(default_factory=dict, init=False)
    schedules: dict[str, ScheduleTimer] = field(default_factory=dict, init=False)
    qbo_emulator: Any = field(default=None, init=False)
    crm_emulator: Any = field(default=None, init=False)
    _saved_environ: dict[str, str] = field(default_factory=dict, init=False)
    _api_port: int = field(default=0, init=False)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "LocalStack":
        # werkzeug logs every request line with its query string, which on /oauth/callback holds the
        # authorization code: our own access log (api_gateway) prints paths only.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        try:
            # The port is fixed before the stack exists: the OAuth redirect URI is built from it.
            self._api_port = self.config.api_port or free_port()
            self._start_emulators()
            self.moto = MotoServer(self.config.moto_port).start()
            self.deployed = deploy_stack(self.moto.url, self.config, self._parameters())
            self._export_environment()
            self._create_functions()
            self.api = LocalHttpApi(bind_routes(list(self.functions.values()))).start(self._api_port)
            if self.start_queue_runners:
                for runner in self._build_queue_runners():
                    self.queue_runners[runner.name] = runner.start()
            if self.start_schedules:
                for timer in self._build_schedules():
                    self.schedules[timer.name] = timer.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for timer in self.schedules.values():
            timer.stop()
        for runner in self.queue_runners.values():
            runner.stop()
        if self.api:
            self.api.stop()
        if self.moto and self.moto.url:
            self.moto.stop()
        for emulator in (self.qbo_emulator, self.crm_emulator):
            if emulator is not None:
                emulator.stop()
        self._restore_environment()

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ wiring
    def _start_emulators(self) -> None:
        if self.config.uses_qbo_emulator:
            from qbo_emulator import QboEmulator

            self.qbo_emulator = QboEmulator(host="127.0.0.1", port=self.config.qbo_emulator_port).start()
        if self.config.uses_crm_emulator:
            from crm_emulator import CrmEmulator

            self.crm_emulator = CrmEmulator(
                outbound_secret=self.config.crm_outbound_secret, host="127.0.0.1",
                port=self.config.crm_emulator_port,
            ).start()
        if self.qbo_emulator is not None:
            # qbsync is an app registered with "Intuit": its redirect URI and webhook endpoint are ours.
            self.qbo_emulator.register_app(
                self.config.intuit_client_id, self.config.intuit_client_secret,
                redirect_uris=[f"{self.public_url}/oauth/callback"],
                verifier_token=self.config.intuit_verifier_token,
                webhook_url=f"{self.public_url}/webhooks/qbo",
            )

    @property
    def public_url(self) -> str:
        return self.config.public_url or f"http://127.0.0.1:{self._api_port}"

    def _parameters(self) -> dict[str, str]:
        config, qbo = self.config, self.qbo_emulator
        parameters = {
            "IntuitEnvironment": config.intuit_environment,
            "CrmBaseUrl": config.crm_base_url or self.crm_emulator.url,
            "QboApiUrl": config.qbo_api_url or qbo.api_base_url,
            "IntuitAuthUrl": config.intuit_auth_url or (qbo.auth_url if qbo else ""),
            "IntuitTokenUrl": config.intuit_token_url or (qbo.token_url if qbo else ""),
            "IntuitRevokeUrl": config.intuit_revoke_url or (qbo.revoke_url if qbo else ""),
            "PublicUrl": self.public_url,
            "ReturnUrlAllowlist": config.return_url_allowlist,
            "PollIntervalSeconds": str(config.poll_interval_seconds),
            "LogLevel": config.log_level,
            **config.extra_parameters,
        }
        # Intuit's own URLs stay the template defaults when neither an emulator nor a value gives one.
        return {name: value for name, value in parameters.items() if value}

    def _export_environment(self) -> None:
        assert self.moto is not None and self.deployed is not None
        merged: dict[str, str] = {}
        for logical_id, variables in self.deployed.function_environment.items():
            for name, value in variables.items():
                if merged.get(name, value) != value:
                    raise RuntimeError(
                        f"functions disagree on {name}; one process cannot give both their environment"
                    )
                merged[name] = value
        merged.update(AWS_ENV)
        merged["AWS_ENDPOINT_URL"] = self.moto.url
        merged["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon locally
        # oauthlib refuses plain-http token endpoints; the emulators on loopback speak http. (It only
        # allows http; https endpoints such as Intuit's sandbox work the same either way.)
        merged["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
        for name, value in merged.items():
            if name not in self._saved_environ:
                self._saved_environ[name] = os.environ.get(name, "\0")
            os.environ[name] = value
        _reset_handler_caches()

    def _restore_environment(self) -> None:
        for name, value in self._saved_environ.items():
            if value == "\0":
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()
        try:
            _reset_handler_caches()
        except ImportError:
            pass

    def _create_functions(self) -> None:
        assert self.deployed is not None
        for spec in SamTemplate().functions(self._parameters()):
            spec = self.functions_override.get(spec.logical_id, spec)
            self.functions[spec.logical_id] = LocalFunction(
                spec,
                physical_name=self.deployed.physical_ids[spec.logical_id],
                account_id=self.deployed.account_id,
                region=REGION,
                concurrency=self.config.function_concurrency,
            )

    def _build_queue_runners(self) -> list[QueueRunner]:
        assert self.deployed is not None
        runners = []
        for function in self.functions.values():
            for source in function.spec.sqs_sources:
                runners.append(QueueRunner(
                    source=source,
                    function=function,
                    sqs=self.aws_client("sqs"),
                    queue_url=self.deployed.queue_url(source.queue_logical_id),
                    region=REGION,
                    retry_delay_seconds=self.config.retry_delay_seconds,
                    pollers=self.config.queue_pollers,
                ))
        return runners

    def _build_schedules(self) -> list[ScheduleTimer]:
        assert self.deployed is not None
        timers = []
        for function in self.functions.values():
            for schedule in function.spec.schedules:
                interval = rate_seconds(schedule.expression)
                if schedule.parameter == "PollScheduleExpression":
                    interval = self.config.poll_interval_seconds
                timers.append(ScheduleTimer(
                    name=f"{function.spec.logical_id}.{schedule.name}",
                    function=function,
                    interval_seconds=interval / self.config.schedule_speedup,
                    region=REGION,
                    account_id=self.deployed.account_id,
                ))
        return timers

    # ------------------------------------------------------------------ helpers for tests, demo, CLI
    def aws_client(self, service: str) -> Any:
        assert self.moto is not None
        return boto3.session.Session(
            region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing",
            aws_session_token="testing",
        ).client(service, endpoint_url=self.moto.url)

    def queue_url(self, logical_id: str) -> str:
        assert self.deployed is not None
        return self.deployed.queue_url(logical_id)

    def describe(self) -> list[tuple[str, str]]:
        """What runs where, for the start-up banner."""
        assert self.api is not None and self.moto is not None
        rows = [("qbsync HTTP API", self.api.url), ("AWS (moto server)", self.moto.url)]
        if self.qbo_emulator is not None:
            rows.append(("QBO emulator", self.qbo_emulator.url))
        if self.crm_emulator is not None:
            rows.append(("CRM emulator", self.crm_emulator.url))
        for function in self.functions.values():
            for route in function.spec.routes:
                rows.append((f"  {route.method} {route.path}", function.spec.logical_id))
        for runner in self.queue_runners.values():
            rows.append(("  queue", runner.name))
        for timer in self.schedules.values():
            rows.append(("  schedule", f"{timer.name} every {timer.interval_seconds:g} s"))
        return rows
