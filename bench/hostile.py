#!/usr/bin/env python3
"""The attackers of bench/hostile.sh, all at once against one cache, from one address.

Usage: hostile.py HOST:PORT SECONDS ATTACK   (ATTACK: idle, slowloris, slow, vary or probe)

For SECONDS, one attack (bench/hostile.sh runs the five at once, each in its own process, so
that one's churn cannot starve another's event loop), each from its own loopback address
(127.0.0.2 to 127.0.0.6: five attacking hosts, none of them the legitimate client at
127.0.0.1, as on a real network):
  - idle: 10 000 sockets that connect and send nothing (reconnected a second after being closed);
  - slowloris: 200 sockets that send a request head one header line every 2 s;
  - slow readers: 16 requests for 64 MiB objects (unique query strings force fills) read at
    16 KiB/s;
  - vary: requests for a `Vary: X-Variant` object, each with a new X-Variant value;
  - cookie probing: requests for pages the application sends with no Cache-Control (as it sends
    logged-in pages), with a random session cookie and `Cache-Control: max-stale,
    only-if-cached`, counting answers the cache gave from what it stored (a hit: another
    client's page).
Prints one JSON line of counts. Bounded in time and count; loopback only.
"""
import asyncio
import json
import random
import resource
import sys
import time

counts = {
    "idle_opened": 0,
    "idle_closed_by_server": 0,
    "slowloris_closed_by_server": 0,
    "slow_reader_bytes": 0,
    "slow_readers_cut": 0,
    "vary_requests": 0,
    "probe_requests": 0,
    "probe_hits": 0,
    "connect_errors": 0,
}


async def connect(host, port, source):
    try:
        return await asyncio.open_connection(host, port, local_addr=(source, 0))
    except OSError:
        counts["connect_errors"] += 1
        await asyncio.sleep(0.05)
        return None


async def idle(host, port, source, until):
    while time.monotonic() < until:
        c = await connect(host, port, source)
        if c is None:
            continue
        r, w = c
        counts["idle_opened"] += 1
        try:
            data = await asyncio.wait_for(r.read(1), timeout=max(0.1, until - time.monotonic()))
            if data == b"":
                counts["idle_closed_by_server"] += 1
        except (asyncio.TimeoutError, OSError):
            pass
        w.close()
        await asyncio.sleep(1)


async def slowloris(host, port, source, until):
    while time.monotonic() < until:
        c = await connect(host, port, source)
        if c is None:
            continue
        r, w = c
        try:
            w.write(b"GET /b/4096/hot HTTP/1.1\r\nHost: bench\r\n")
            while time.monotonic() < until:
                await asyncio.sleep(2)
                w.write(b"X-a: b\r\n")
                await w.drain()
        except OSError:
            counts["slowloris_closed_by_server"] += 1
        w.close()


async def slow_reader(host, port, source, until, n):
    while time.monotonic() < until:
        c = await connect(host, port, source)
        if c is None:
            continue
        r, w = c
        n += 1000
        try:
            w.write(f"GET /b/67108864/slow-{n}-{random.random()} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            await w.drain()
            while time.monotonic() < until:
                data = await r.read(16384)
                if not data:
                    counts["slow_readers_cut"] += 1
                    break
                counts["slow_reader_bytes"] += len(data)
                await asyncio.sleep(1)
        except OSError:
            counts["slow_readers_cut"] += 1
        w.close()


async def request_loop(host, port, source, until, make, on_reply):
    while time.monotonic() < until:
        c = await connect(host, port, source)
        if c is None:
            continue
        r, w = c
        try:
            while time.monotonic() < until:
                w.write(make())
                await w.drain()
                head = await r.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await r.readexactly(length)
                on_reply(head)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        w.close()


async def main():
    target, secs, attack = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    host, port = target.rsplit(":", 1)
    port = int(port)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    until = time.monotonic() + secs

    def vary():
        counts["vary_requests"] += 1
        return f"GET /vary/4096/x HTTP/1.1\r\nHost: bench\r\nX-Variant: {random.getrandbits(64)}\r\n\r\n".encode()

    def probe():
        counts["probe_requests"] += 1
        return (
            f"GET /private/4096/p-{random.randrange(64)} HTTP/1.1\r\nHost: bench\r\n"
            f"Cookie: session={random.getrandbits(64)}\r\n"
            "Cache-Control: max-stale, only-if-cached\r\n\r\n"
        ).encode()

    def probed(head):
        h = head.lower()
        if b"x-cache-status: hit" in h or b"x-cache-status: stale" in h or b"; hit" in h:
            counts["probe_hits"] += 1

    tasks = {
        "idle": lambda: [idle(host, port, "127.0.0.2", until) for _ in range(10_000)],
        "slowloris": lambda: [slowloris(host, port, "127.0.0.3", until) for _ in range(200)],
        "slow": lambda: [slow_reader(host, port, "127.0.0.4", until, i) for i in range(16)],
        "vary": lambda: [
            request_loop(host, port, "127.0.0.5", until, vary, lambda h: None) for _ in range(4)
        ],
        "probe": lambda: [
            request_loop(host, port, "127.0.0.6", until, probe, probed) for _ in range(4)
        ],
    }[attack]()
    await asyncio.gather(*tasks, return_exceptions=True)
    used = resource.getrusage(resource.RUSAGE_SELF)
    counts["attacker_cpu_seconds"] = round(used.ru_utime + used.ru_stime, 1)
    print(json.dumps(counts))


asyncio.run(main())
