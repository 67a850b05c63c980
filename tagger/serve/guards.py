"""ASGI middleware in front of the app: a body size limit and optional basic auth."""
import base64
import binascii
import json
import secrets


async def send_error(send, status, reason, headers=()):
    body = json.dumps({"detail": reason}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a body over `limit` bytes: at once from Content-Length, or as soon as a
    chunked body passes it (the app then sees the client gone, and its answer is replaced)."""

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        reason = f"the body is over the limit of {self.limit:,} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await send_error(send, 413, reason)
        state = {"seen": 0, "over": False, "started": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if state["over"]:
                if not state["started"]:
                    state["started"] = True
                    await send_error(send, 413, reason)
                return
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


class BasicAuth:
    """HTTP basic auth (as the webui tagger extension's --api-auth), except `open_paths`."""

    def __init__(self, app, user, password, open_paths=()):
        self.app, self.open_paths = app, open_paths
        self.expected = base64.b64encode(f"{user}:{password}".encode()).decode()

    def allowed(self, scope):
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        try:
            base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            return False
        return scheme.lower() == "basic" and secrets.compare_digest(token, self.expected)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.open_paths or self.allowed(scope):
            return await self.app(scope, receive, send)
        await send_error(send, 401, "this server needs a user and password (basic auth)",
                         [(b"www-authenticate", b'Basic realm="tagger"')])
