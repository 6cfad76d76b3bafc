"""Third-party WebSocket clients for websocksy's tests: Python's `websockets` (asyncio) and
`websocket-client` (threads-free, blocking). Each case opens COUNT connections to URL, sends,
then closes; one JSON line per connection says what it sent (sha256 and length of every payload
byte, in order) and the close code it saw.

usage: clients.py CASE URL COUNT [MESSAGE_BYTES]
"""
import asyncio
import hashlib
import json
import os
import sys

CASES = {}


def case(function):
    CASES[function.__name__.replace("_", "-")] = function
    return function


def report(payloads, code):
    digest = hashlib.sha256()
    length = 0
    for payload in payloads:
        data = payload.encode() if isinstance(payload, str) else payload
        digest.update(data)
        length += len(data)
    print(json.dumps({"sha256": digest.hexdigest(), "length": length, "code": code}), flush=True)


def fragments(i, count, size):
    """Fragments of differing sizes, unique to connection i."""
    return [os.urandom(size + (i * 7 + n * 13) % 97) for n in range(count)]


async def websockets_connections(url, count, body):
    import websockets

    async def one(i):
        async with websockets.connect(url, compression=None, max_size=None) as ws:
            payloads = await body(ws, i)
        report(payloads, ws.close_code)

    await asyncio.gather(*(one(i) for i in range(count)))


@case
def websockets_fragmented(url, count, size):
    """A text and a binary message, each sent as many fragments (send() with an iterable)."""

    async def body(ws, i):
        words = [f"connection {i} fragment {n} " for n in range(10)]
        parts = fragments(i, 20, size)
        await ws.send(words)
        await ws.send(parts)
        return words + parts

    asyncio.run(websockets_connections(url, count, body))


@case
def websockets_ping_between_fragments(url, count, size):
    """A fragmented message with a ping, answered, between each two fragments."""

    async def body(ws, i):
        parts = fragments(i, 10, size)

        async def with_pings():
            for n, part in enumerate(parts):
                if n > 0:
                    pong = await ws.ping(f"{i}-{n}")
                    await asyncio.wait_for(pong, 10)
                yield part

        await ws.send(with_pings())
        return parts

    asyncio.run(websockets_connections(url, count, body))


@case
def websockets_send_then_close(url, count, size):
    """await ws.send(x); await ws.close(): the classic send-then-close."""

    async def body(ws, i):
        parts = fragments(i, 1, size)
        await ws.send(parts[0])
        await ws.close()
        return parts

    asyncio.run(websockets_connections(url, count, body))


@case
def websocket_client_send_then_close(url, count, size):
    """websocket-client: send(x); close(), one connection after the other."""
    import websocket

    for i in range(count):
        ws = websocket.create_connection(url)
        parts = fragments(i, 2, size)
        ws.send(f"connection {i} says hello")
        ws.send_binary(parts[0])
        ws.send_binary(parts[1])
        ws.close()
        # websocket-client reads the server's close frame in close() but does not keep its code.
        report([f"connection {i} says hello"] + parts, None)


if __name__ == "__main__":
    name, url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    CASES[name](url, count, size)
