"""Python's `websockets` against a route module's WebSocket (test/route-modules.test.ts): COUNT
clients offer the subprotocol `lab`; each checks that it got it and that a message of its own
comes back (echo), then sends `all:<i>`, a broadcast, and reads until it has every client's.
One JSON line per client: the subprotocol, the echo, the broadcasts it got (sorted), its close code.

usage: route_chat.py URL COUNT
"""
import asyncio
import json
import sys

import websockets


async def client(url, i, count, ready):
    async with websockets.connect(url, subprotocols=["lab"], compression=None) as ws:
        await ws.send(f"echo {i}")
        echo = await asyncio.wait_for(ws.recv(), 10)
        # Every client is connected before anyone broadcasts, so each one hears all of them.
        ready.append(i)
        while len(ready) < count:
            await asyncio.sleep(0.01)
        await ws.send(f"all:from {i}")
        heard = []
        while len(heard) < count:
            heard.append(await asyncio.wait_for(ws.recv(), 10))
        await ws.close()
        return {"protocol": ws.subprotocol, "echo": echo, "heard": sorted(heard), "code": ws.close_code}


async def main(url, count):
    ready = []
    reports = await asyncio.gather(*(client(url, i, count, ready) for i in range(count)))
    for report in reports:
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
