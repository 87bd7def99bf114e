"""``frs serve`` as a real process on a free loopback port, for browser tests and benchmarks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """Start ``frs serve --port <free> --no-access-log *args`` and wait until ``/healthz`` answers.

    Returns the process and its base URL. A server that exits or stays silent past ``timeout``
    is killed and reported with the end of its stderr (RuntimeError).
    """
    import httpx

    port = free_port()
    frs = str(Path(sys.executable).parent / "frs")
    server = subprocess.Popen([frs, "serve", "--port", str(port), "--no-access-log", *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"frs serve did not start: {server.stderr.read()[-2000:]}")
        time.sleep(0.2)


def stop_serve(server: subprocess.Popen | None, timeout: float = 15) -> None:
    if server is None:
        return
    server.terminate()
    try:
        server.wait(timeout)
    except subprocess.TimeoutExpired:
        server.kill()
