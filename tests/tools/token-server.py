#!/usr/bin/python3
"""A small token issuer for the registry's `token` auth, as Docker Hub's
auth.docker.io answers: GET /token?service=S&scope=repository:NAME:ACTIONS,
with Basic credentials or none, answers {"token": JWT}.

  token-server.py PORT KEY.pem CERT.pem USER PASSWORD

Anonymous clients get pull access to repositories under public/ only;
USER:PASSWORD gets pull and push everywhere; wrong credentials get 401.
The JWT is signed RS256 with KEY; its "kid" is the libtrust key id of
the key, which the registry matches against the certificates of its
rootcertbundle (CERT). Each request is logged to stdout, one line.
"""
import base64
import hashlib
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography.hazmat.primitives import serialization

PORT, KEY_FILE, CERT_FILE, USER, PASSWORD = sys.argv[1:6]
ISSUER = "vce-test-issuer"

with open(KEY_FILE, "rb") as f:
    KEY = serialization.load_pem_private_key(f.read(), password=None)


def libtrust_kid(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


KID = libtrust_kid(KEY.public_key())


def granted(scope, authenticated):
    parts = scope.split(":")
    if len(parts) != 3 or parts[0] != "repository":
        return None
    _, name, actions = parts
    wanted = actions.split(",")
    if authenticated:
        allowed = wanted
    elif name.startswith("public/"):
        allowed = [a for a in wanted if a == "pull"]
    else:
        allowed = []
    return {"type": "repository", "name": name, "actions": allowed}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stdout.write("%s\n" % (fmt % args))
        sys.stdout.flush()

    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/token":
            self.send_error(404)
            return
        query = parse_qs(url.query)
        authenticated = False
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if (user, password) != (USER, PASSWORD):
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"details":"incorrect username or password"}')
                return
            authenticated = True
        access = [a for a in (granted(s, authenticated) for s in query.get("scope", [])) if a]
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": USER if authenticated else "", "aud": query.get("service", [""])[0],
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": KID})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
