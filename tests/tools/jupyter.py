#!/usr/bin/python3
"""What a student's browser does with a notebook server, from the command line.

    jupyter.py URL TOKEN wait [SECONDS]      until GET /api answers 200
    jupyter.py URL TOKEN answered-at [SEC]   the same, then prints when (ns since
                                             the epoch: date +%s%N's clock)
    jupyter.py URL TOKEN status              the HTTP status of GET /api/contents
    jupyter.py URL TOKEN save PATH           creates a notebook at PATH (REST)
    jupyter.py URL TOKEN execute CODE        starts a kernel, runs CODE over the
                                             websocket, prints its output

Exits non-zero, with the reason on stderr, when the server says no.
"""
import json
import sys
import time
import urllib.error
import urllib.request
import uuid


def request(url, token, method="GET", path="/api", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Authorization", "token " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read() or b"null")


def wait(url, token, seconds=60):
    deadline = time.monotonic() + float(seconds)
    while True:
        try:
            status, _ = request(url, token)
            if status == 200:
                return
        except (OSError, urllib.error.HTTPError, ValueError):
            pass
        if time.monotonic() > deadline:
            sys.exit("jupyter.py: %s/api did not answer in %s s" % (url, seconds))
        time.sleep(0.01)


def answered_at(url, token, seconds=60):
    wait(url, token, seconds)
    print(time.time_ns())


def status(url, token):
    try:
        code, _ = request(url, token, path="/api/contents")
    except urllib.error.HTTPError as e:
        code = e.code
    print(code)


def save(url, token, path):
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {},
                   "outputs": [], "source": ["print('saved by a student')"]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    code, model = request(url, token, "PUT", "/api/contents/" + path,
                          {"type": "notebook", "format": "json", "content": notebook})
    print(code, model["path"])


def execute(url, token, code):
    import websocket  # python3-websocket; only here, so that waiting starts fast

    _, kernel = request(url, token, "POST", "/api/kernels", {"name": "python3"})
    ws_url = url.replace("http", "ws", 1) + "/api/kernels/%s/channels" % kernel["id"]
    ws = websocket.create_connection(ws_url, header=["Authorization: token " + token],
                                     timeout=60)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "student", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False},
    }))
    failed = False
    while True:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            sys.stdout.write(content["text"])
        elif kind == "error":
            sys.stderr.write("\n".join(content["traceback"]) + "\n")
            failed = True
        elif kind == "status" and content["execution_state"] == "idle":
            break
    ws.close()
    request(url, token, "DELETE", "/api/kernels/" + kernel["id"])
    if failed:
        sys.exit(1)


def main():
    url, token, command, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    try:
        {"wait": wait, "answered-at": answered_at, "status": status, "save": save, "execute": execute}[command](
            url, token, *args)
    except urllib.error.HTTPError as e:
        sys.exit("jupyter.py: %s: HTTP %d %s" % (command, e.code, e.reason))


if __name__ == "__main__":
    main()
