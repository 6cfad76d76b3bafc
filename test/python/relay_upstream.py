"""Python's `websockets` as the upstream of a websocket route (test/websocket-route-python.test.ts):
a server on 127.0.0.1 that pings every 50 ms (a client that does not answer is dropped), offers
the subprotocols `chat` and `v2.chat`, and for each message it gets:
  "frag:N:TEXT"  sends TEXT back as a text message in N fragments
  "bin:N"        sends N bytes (i % 251) back as one binary message, N up to 4 MiB
  "close:CODE"   closes with CODE and the reason "bye from python"
  anything else  echoes it, text as text and binary as binary
It prints its port on the first line, then one line "closed CODE REASON" per connection.

usage: relay_upstream.py
"""
import asyncio

import websockets

# Made once: generating it per message would block the event loop past the ping timeout.
PATTERN = bytes(i % 251 for i in range(4 * 1024 * 1024))


async def handler(ws):
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("frag:"):
                _, count, text = message.split(":", 2)
                step = max(1, -(-len(text) // int(count)))
                await ws.send([text[i:i + step] for i in range(0, len(text), step)])
            elif isinstance(message, str) and message.startswith("bin:"):
                await ws.send(PATTERN[:int(message[4:])])
            elif isinstance(message, str) and message.startswith("close:"):
                await ws.close(int(message[6:]), "bye from python")
            else:
                await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    print(f"closed {ws.close_code} {ws.close_reason}", flush=True)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["chat", "v2.chat"], compression=None,
                                ping_interval=0.05, ping_timeout=1, max_size=16 * 1024 * 1024) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


asyncio.run(main())
