"""Sharing uploads fairly between ``frs serve --workers N`` processes.

The workers share one listening socket and each accepts connections as it likes; a client keeps
its connection open (HTTP keep-alive) and so stays with the worker that accepted it. With a
handful of busy clients that easily leaves six on one worker and two on the other: one process
then runs six uploads on one core, under one interpreter lock, while the other core idles, and
upload latency doubles. An upload is heavy (tens of milliseconds of validation and storing)
against a new loopback or LAN connection (well under a millisecond), so its answer carries
``Connection: close``: the client's next request opens a new connection, and the worker that is
free first, the one not busy with uploads, is the one that accepts it. Every other request keeps
its connection.
"""

from __future__ import annotations

from typing import Callable


class CloseAfterUpload:
    def __init__(self, app, is_upload: Callable[[str, str], bool]):
        self.app, self.is_upload = app, is_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.is_upload(scope["method"], scope["path"]):
            return await self.app(scope, receive, send)

        async def send_closing(message):
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": headers + [(b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)
