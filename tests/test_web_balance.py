"""An upload's answer ends its connection (so ``frs serve --workers N`` shares uploads between its
workers: the next one is accepted by a free worker); every other request keeps its connection."""

from __future__ import annotations

import socket
import uuid
from urllib.parse import urlsplit

import pytest
from conftest import MANAGER, SCHOOL, make_ks5_workbook
from webkit import live_server, web_service

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def server(people):
    from frs.services import accounts
    from frs.web.app import create_app

    svc = web_service(people)
    token = accounts.create_token(svc, MANAGER)
    with live_server(create_app(service=svc, secret="test-secret")) as base:
        parts = urlsplit(base)
        yield (parts.hostname, parts.port), token


def exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send one request and read its whole answer (head and Content-Length body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head.lower()


def upload_request(token: str, data: bytes) -> bytes:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.xlsx\"\r\n"
            f"Content-Type: {XLSX}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return (f"POST /api/v1/schools/{SCHOOL}/uploads HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def test_an_upload_closes_its_connection_and_other_requests_keep_theirs(server, storage_kernel):
    address, token = server
    with socket.create_connection(address, timeout=60) as sock:
        me = f"GET /api/v1/me HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        for _ in range(2):  # kept open: the second request goes over the same connection
            head = exchange(sock, me)
            assert head.startswith(b"http/1.1 200") and b"connection: close" not in head
        head = exchange(sock, upload_request(token, make_ks5_workbook(storage_kernel)))
        assert head.startswith(b"http/1.1 201") and b"connection: close" in head
        assert sock.recv(1) == b""  # the server closed it: the next request opens a new connection
