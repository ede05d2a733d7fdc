#!/usr/bin/env python3
"""The example site's container backend: GET /api/hello answers JSON, cacheable for 5 seconds
(a shared cache may keep it; the edge's RFC 9111 cache does). Usage: api.py PORT"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls = 0

    def do_GET(self):
        if self.path.split("?")[0] != "/api/hello":
            self.send_error(404)
            return
        Handler.calls += 1
        body = json.dumps({"message": "hello from the backend", "calls": Handler.calls}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("cache-control", "public, max-age=5")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
