#!/usr/bin/env python3
"""An HTTP proxy in front of an S3-compatible server that throttles and fails on purpose.

Used by the tests (never in production) to show that tinycdn retries throttling and transient
errors and fails cleanly, with nothing visible, when the bucket keeps failing.

  s3-fault-proxy.py LISTEN_PORT UPSTREAM_PORT [--every N] [--status CODE] [--break-after K]

--every N        answer every Nth request itself with CODE (503 SlowDown by default) instead of
                 forwarding it
--break-after K  forward the first K requests, then answer every later one with 500
--fail REGEX     answer 500 to every request whose "METHOD PATH" matches REGEX
                 (e.g. '^PUT .*/manifests/' fails a publish after its files are up)
The proxy prints "ready" once listening and, on SIGTERM, the counts as JSON on stderr.
Requests are forwarded unchanged (Host included, so SigV4 signatures still verify).
"""

import http.client
import json
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
listen, upstream = int(args[0]), int(args[1])
every = int(args[args.index("--every") + 1]) if "--every" in args else 0
status = int(args[args.index("--status") + 1]) if "--status" in args else 503
fail = re.compile(args[args.index("--fail") + 1]) if "--fail" in args else None
break_after = int(args[args.index("--break-after") + 1]) if "--break-after" in args else -1

lock = threading.Lock()
counts = {"requests": 0, "forwarded": 0, "faults": 0}

CODES = {503: "SlowDown", 500: "InternalError", 429: "TooManyRequests"}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            counts["requests"] += 1
            n = counts["requests"]
            fault = None
            if break_after >= 0 and n > break_after:
                fault = 500
            elif fail and fail.search(f"{self.command} {self.path}"):
                fault = 500
            elif every and n % every == 0:
                fault = status
            counts["faults" if fault else "forwarded"] += 1
        if fault:
            code = CODES.get(fault, "InternalError")
            xml = f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            self.send_response(fault)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(xml)
            return
        conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items()}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        head = self.command == "HEAD"
        for k, v in resp.getheaders():
            drop = ("transfer-encoding", "connection") + (() if head else ("content-length",))
            if k.lower() not in drop:
                self.send_header(k, v)
        if not head:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def stop(*_):
    with lock:
        sys.stderr.write(json.dumps(counts) + "\n")
    sys.stderr.flush()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server = ThreadingHTTPServer(("127.0.0.1", listen), Proxy)
server.daemon_threads = True
print("ready", flush=True)
server.serve_forever()
