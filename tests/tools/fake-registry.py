#!/usr/bin/python3
"""A registry front for the faults a real one does not make on demand.

    fake-registry.py PORT UPSTREAM_PORT

  /v2/big/manifests/*        a 5 MiB "manifest" (vce caps manifests at 4 MiB)
  /v2/redirect/manifests/*   tiny's manifest, fetched from the registry on
                             127.0.0.1:UPSTREAM_PORT
  /v2/redirect/blobs/*       307 to the same blob at localhost:UPSTREAM_PORT,
                             another host, as registries send blobs to a CDN
Each request is logged to stdout, one line.
"""
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UPSTREAM = int(sys.argv[1]), int(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stdout.write("%s\n" % (fmt % args))
        sys.stdout.flush()

    def answer(self, status, body=b"", content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        if path == "/v2/":
            self.answer(200, b"{}")
        elif path.startswith("/v2/big/manifests/"):
            body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","pad":"' \
                + b"x" * (5 << 20) + b'"}'
            self.answer(200, body, "application/vnd.oci.image.manifest.v1+json")
        elif path.startswith("/v2/redirect/manifests/"):
            req = urllib.request.Request(
                "http://127.0.0.1:%d/v2/tiny/manifests/%s" % (UPSTREAM, path.rsplit("/", 1)[1]),
                headers={"Accept": self.headers.get("Accept", "")})
            with urllib.request.urlopen(req) as r:
                self.answer(200, r.read(), r.headers["Content-Type"])
        elif path.startswith("/v2/redirect/blobs/"):
            where = "http://localhost:%d/v2/tiny/blobs/%s" % (UPSTREAM, path.rsplit("/", 1)[1])
            self.answer(307, b"", headers=[("Location", where)])
        else:
            self.answer(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}')


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
