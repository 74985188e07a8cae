"""A local SMTP sink: accepts every message on 127.0.0.1 and writes it as an .eml file.

For `iop up` (the default NOTIFIER_SMTP_HOST/PORT when no real server is configured) and for
tests. Start it in-process with `SmtpSink(directory).start()`, or as its own process with
`python -m iop_notifier.adapters.smtp_sink DIR --port 8025` and stop that with SIGINT/SIGTERM.
"""

import argparse
import asyncio
import itertools
import signal
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session


class _WriteEml:
    def __init__(self, directory: Path, delay_s: float) -> None:
        self.directory = directory
        self.delay_s = delay_s
        self._counter = itertools.count()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # a slow server, for tests that need one
        with self._lock:
            name = f"{time.time_ns()}-{next(self._counter):06d}.eml"
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(content)
        tmp.rename(self.directory / name)  # readers never see a half-written file
        return "250 Message accepted for delivery"


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 writing each message to `directory` as an .eml file."""

    def __init__(
        self, directory: Path, port: int = 0, host: str = "127.0.0.1", delay_s: float = 0.0
    ) -> None:
        self.directory = Path(directory)
        self.delay_s = delay_s
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    def start(self) -> "SmtpSink":
        self.directory.mkdir(parents=True, exist_ok=True)
        port = self.port or _free_port(self.host)
        controller = Controller(
            _WriteEml(self.directory, self.delay_s), hostname=self.host, port=port
        )
        controller.start()
        self._controller = controller
        self.port = port
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, oldest first."""
        files = sorted(self.directory.glob("*.eml"))
        return [message_from_bytes(path.read_bytes(), policy=policy.default) for path in files]


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description="Local SMTP sink writing .eml files")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with SmtpSink(args.directory, port=args.port) as sink:
        print(f"smtp sink on {sink.host}:{sink.port} writing to {sink.directory}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
