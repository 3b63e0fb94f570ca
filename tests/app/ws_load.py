"""Websocket load for the slow-client test, run as its own process so that the clients' work
does not compete with the service for the test process's interpreter lock.

Usage: python ws_load.py WS_URL READERS SECONDS. READERS clients read everything; once they
are connected, one more completes the handshake on a raw socket with a tiny receive buffer and
then never reads.
Prints one JSON line: the frame numbers each reader got.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
import time
from urllib.parse import urlparse

import websockets


def stuck_client(url: str) -> socket.socket:
    parsed = urlparse(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect((parsed.hostname, parsed.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # the headers only, byte by byte: nothing after them is read
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


async def read(ws, seconds: float) -> list[int]:
    frames = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            break
        if message["type"] == "prediction":
            frames.append(message["frame"])
    return frames


async def main(url: str, readers: int, seconds: float) -> None:
    """The readers connect first, so that all are there while the stuck client is (it is cut
    off within a few seconds)."""
    connections = await asyncio.gather(*(websockets.connect(url, max_queue=None)
                                         for _ in range(readers)))
    stuck = await asyncio.to_thread(stuck_client, url)
    print("stuck client connected", file=sys.stderr, flush=True)
    try:
        results = await asyncio.gather(*(read(ws, seconds) for ws in connections))
    finally:
        await asyncio.gather(*(ws.close() for ws in connections))
        stuck.close()
    print(json.dumps({"frames": results}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
