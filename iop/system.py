"""The whole system on one machine: broker, SMTP sink and the four services as processes.

`iop up`, `iop demo` and the end-to-end tests all start the system this way, so what the tests
exercise is what an operator runs.
"""

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from iop_contracts.kafka import KafkaSettings
from iop_contracts.operator_errors import OperatorError
from iop_notifier.adapters.smtp_sink import SmtpSink

from iop.broker import EmbeddedBroker, ensure_topics, free_port, free_ports

SERVICES = ("scheduler", "intake", "notifier", "clinic")
DEFAULT_PORTS = {"intake": 8080, "scheduler": 8081, "notifier": 8082, "clinic": 8083}
# The services with API keys: without <NAME>_API_KEYS a local run turns their authentication off
# explicitly (<NAME>_AUTH_DISABLED=true; they refuse to start otherwise) and says so.
KEYED_SERVICES = ("intake", "clinic")
SECURITY_DOC = "docs/security-platform.md"
# Kafka connection settings that the embedded broker (plaintext, 127.0.0.1) cannot honour.
KAFKA_SECURITY_ENV = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_CERTFILE",
    "KAFKA_SSL_KEYFILE",
    "KAFKA_SSL_KEY_PASSWORD",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
)


def _without_keys(service: str) -> bool:
    return not os.environ.get(f"{service.upper()}_API_KEYS", "").strip()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass
class SystemSettings:
    """Where things listen. Defaults come from the environment, as README.md documents."""

    bootstrap_servers: str | None = field(
        default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None
    )
    ports: dict[str, int] = field(
        default_factory=lambda: {
            name: _env_int(f"{name.upper()}_HTTP_PORT", port)
            for name, port in DEFAULT_PORTS.items()
        }
    )
    smtp_host: str | None = field(default_factory=lambda: os.environ.get("NOTIFIER_SMTP_HOST"))
    smtp_port: int = field(default_factory=lambda: _env_int("NOTIFIER_SMTP_PORT", 0))
    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("IOP_STATE_DIR", ".iop")))
    # A local run without INTAKE_API_KEYS runs intake with authentication off, explicitly
    # (INTAKE_AUTH_DISABLED=true; intake refuses to start otherwise) and says so on the console.
    intake_auth_disabled: bool = field(default_factory=lambda: _without_keys("intake"))
    # The same for the clinic and CLINIC_API_KEYS.
    clinic_auth_disabled: bool = field(default_factory=lambda: _without_keys("clinic"))

    def auth_disabled(self, service: str) -> bool:
        return {"intake": self.intake_auth_disabled, "clinic": self.clinic_auth_disabled}.get(
            service, False
        )

    @classmethod
    def isolated(cls, state_dir: Path) -> "SystemSettings":
        """Free ports everywhere and a private state folder (tests, parallel demos)."""
        return cls(
            ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
            smtp_host=None,
            smtp_port=0,
            state_dir=state_dir,
        )


def service_command(service: str) -> list[str]:
    """The service's own entry point, from this environment."""
    script = Path(sys.executable).parent / f"iop-{service}"
    if script.exists():
        return [str(script), "run"]
    found = shutil.which(f"iop-{service}")
    if found is None:
        raise FileNotFoundError(f"iop-{service} is not installed in this environment")
    return [found, "run"]


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    """Wait for a service asked to stop (SIGTERM, once: a second one would hurry it), kill it
    after 15 s."""
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class SystemStartError(OperatorError, RuntimeError):
    """A part of the system did not start (its log says why)."""


class System:
    """Start with `start()` (or `with System(...)`), stop with `stop()`: every process ends."""

    def __init__(self, settings: SystemSettings | None = None) -> None:
        self.settings = settings or SystemSettings()
        self.broker: EmbeddedBroker | None = None
        self.smtp_sink: SmtpSink | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # Settings one service gets beyond the system's own (a restart with IOP_TODAY moved on).
        self.extra_env: dict[str, dict[str, str]] = {}
        self.bootstrap_servers = ""
        # How this run's own clients (topic creation, roster, demo readers) reach the broker.
        self.kafka = KafkaSettings.local("")
        self.smtp_address = ("", 0)
        run_id = time.strftime("%Y%m%d-%H%M%S")
        self.run_dir = self.settings.state_dir / "runs" / run_id
        self.outbox = self.settings.state_dir / "outbox"

    # ------------------------------------------------------------------ lifecycle
    def start(self, ready_timeout_s: float = 60.0) -> "System":
        self.start_infrastructure()
        return self.start_services(ready_timeout_s)

    def start_infrastructure(self) -> "System":
        """The broker (with topics) and the SMTP sink: what the services need to start."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._start_broker()
            self._start_smtp()
        except BaseException:
            self.stop()
            raise
        return self

    def start_services(self, ready_timeout_s: float = 60.0) -> "System":
        try:
            for service in SERVICES:
                self._start_service(service)
            self.wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_broker(self) -> None:
        if self.settings.bootstrap_servers:
            # The deployment's own Kafka: security and replication from the environment.
            self.kafka = KafkaSettings(bootstrap_servers=self.settings.bootstrap_servers)
            asyncio.run(ensure_topics(self.kafka))
            self.bootstrap_servers = self.settings.bootstrap_servers
            return
        self.broker = EmbeddedBroker(log_path=self.run_dir / "broker.log").start()
        self.kafka = self.broker.kafka
        self.bootstrap_servers = self.broker.bootstrap_servers

    def _start_smtp(self) -> None:
        if self.settings.smtp_host:
            self.smtp_address = (self.settings.smtp_host, self.settings.smtp_port or 25)
            return
        sink = SmtpSink(self.outbox, host="127.0.0.1", port=self.settings.smtp_port or free_port())
        sink.start()
        self.smtp_sink = sink
        self.smtp_address = (sink.host, sink.port)

    def service_env(self, service: str) -> dict[str, str]:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            f"{service.upper()}_HTTP_PORT": str(self.settings.ports[service]),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env.get(service, {}),
        }
        if self.broker is not None:
            for name in KAFKA_SECURITY_ENV:
                env.pop(name, None)
        if self.settings.auth_disabled(service):
            env[f"{service.upper()}_AUTH_DISABLED"] = "true"
        if service == "notifier":
            env["NOTIFIER_SMTP_HOST"] = self.smtp_address[0]
            env["NOTIFIER_SMTP_PORT"] = str(self.smtp_address[1])
            if self.smtp_sink is not None:
                # Our own sink on 127.0.0.1 speaks no TLS; the notifier allows that to loopback.
                env["NOTIFIER_SMTP_TLS"] = "plaintext"
            if self.broker is not None:
                # The embedded broker forgets everything when it stops; a ledger that outlived
                # it would remember deliveries of events that no longer exist.
                env.setdefault("NOTIFIER_LEDGER_PATH", str(self.run_dir / "ledger.sqlite3"))
        return env

    def _start_service(self, service: str) -> None:
        log = open(self.run_dir / f"{service}.log", "ab")  # noqa: SIM115 - the child owns it
        self.processes[service] = subprocess.Popen(
            service_command(service),
            env=self.service_env(service),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def restart_service(
        self, service: str, extra_env: Mapping[str, str], ready_timeout_s: float = 60.0
    ) -> None:
        """Stop one service, start it again with ``extra_env`` on top of its settings, and wait
        until every service is ready; the broker, and what it holds, stays up."""
        process = self.processes.pop(service)
        if process.poll() is None:
            process.terminate()
        _wait_or_kill(process)
        self.extra_env[service] = dict(extra_env)
        self._start_service(service)
        self.wait_ready(ready_timeout_s)

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.settings.ports[service]}{path}"

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(SERVICES)
        with httpx.Client(timeout=2.0) as http:
            while pending:
                for service in sorted(pending):
                    process = self.processes[service]
                    if process.poll() is not None:
                        raise SystemStartError(
                            f"{service} exited with {process.returncode}; "
                            f"see {self.run_dir / (service + '.log')}"
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        if http.get(self.url(service, "/health/ready")).status_code == 200:
                            pending.discard(service)
                if pending and time.monotonic() > deadline:
                    raise SystemStartError(f"not ready within {timeout_s:.0f} s: {sorted(pending)}")
                if pending:
                    time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            _wait_or_kill(process)
        self.processes.clear()
        if self.smtp_sink is not None:
            self.smtp_sink.stop()
            self.smtp_sink = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def describe(self) -> list[str]:
        broker = "embedded (memory storage)" if self.broker else "external"
        smtp = "local sink writing to " + str(self.outbox) if self.smtp_sink else "external"
        return [
            f"broker     {self.bootstrap_servers}  [{broker}]",
            f"intake     {self.url('intake')}  (API docs at /docs)",
            f"scheduler  {self.url('scheduler', '/health/ready')}  (metrics at /metrics)",
            f"notifier   {self.url('notifier', '/health/ready')}  (metrics at /metrics)",
            f"clinic     {self.url('clinic')}  (API docs at /docs, the staff board at /board)",
            f"smtp       {self.smtp_address[0]}:{self.smtp_address[1]}  [{smtp}]",
            f"logs       {self.run_dir}/",
            self.describe_auth(),
        ]

    def describe_auth(self) -> str:
        """One line per service with API keys: where its keys come from, or that it is open."""
        return "\n".join(self._auth_line(service) for service in KEYED_SERVICES)

    def _auth_line(self, service: str) -> str:
        name = service.upper()
        if self.settings.auth_disabled(service):
            return (
                f"auth       {service} authentication is OFF for this local run "
                f"({name}_AUTH_DISABLED=true); set {name}_API_KEYS to turn it on, "
                f"see {SECURITY_DOC}"
            )
        return f"auth       {service} API keys from {name}_API_KEYS (see {SECURITY_DOC})"

    def __enter__(self) -> "System":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
