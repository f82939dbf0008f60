"""Web hardening shared by the HTTP API and the chat: headers, the upload-route key, file checks, safe links.

Kept apart from the routes so that each rule is written once and tested once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path

from fastapi.responses import JSONResponse

CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
       "connect-src 'self'; worker-src 'self' blob:; media-src 'self' blob: data:; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"content-security-policy", CSP.encode()),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
CHAT_KEY_COOKIE = "rag_chat_key"
GRADIO_UPLOAD = "/gradio_api/upload"


def key_matches(given: str | None, key: str) -> bool:
    return bool(given) and secrets.compare_digest(given.encode(), key.encode())


def cookie_token(key: str) -> str:
    """What the chat's key cookie holds: a MAC of the key, never the key itself."""
    return hmac.new(key.encode(), b"rag chat writes", hashlib.sha256).hexdigest()


def has_write_key(key: str | None, authorization: str | None, cookie: str | None) -> bool:
    """True when no key is configured, or the bearer header or the chat cookie carries it."""
    if not key:
        return True
    scheme, _, token = (authorization or "").partition(" ")
    return (scheme.lower() == "bearer" and key_matches(token, key)) or key_matches(cookie, cookie_token(key))


def http_url(url: str | None) -> str | None:
    """The url when it is http(s); anything else (``javascript:``, ``data:``, relative) is dropped."""
    return url if url and url.strip().lower().startswith(("http://", "https://")) else None


def uploaded_file(path: str | Path, upload_dir: str | Path) -> Path:
    """``path`` resolved (symlinks followed) when it lies inside Gradio's upload folder; else PermissionError.

    Gradio's own check does not run for an app mounted on FastAPI; this one does, in every handler
    that takes a file.
    """
    resolved, root = Path(path).resolve(), Path(upload_dir).resolve()
    if not resolved.is_relative_to(root) or not resolved.is_file():
        raise PermissionError("only files uploaded through this chat can be added")
    return resolved


def _cookie(scope: dict) -> str | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == CHAT_KEY_COOKIE:
                    return v
    return None


class WebGuard:
    """ASGI middleware: security headers on every response; a 403 names nothing it was asked for;
    with a key configured, Gradio's upload route stores nothing without it (bearer or chat cookie)."""

    def __init__(self, app, api_key: str | None) -> None:
        self.app, self.api_key = app, api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.api_key and scope["method"] == "POST" and scope["path"].rstrip("/") == GRADIO_UPLOAD:
            auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not has_write_key(self.api_key, auth, _cookie(scope)):
                response = JSONResponse({"detail": "missing or wrong key"}, 401,
                                        headers={"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, self._with_headers(send))
        await self.app(scope, receive, self._with_headers(send))

    def _with_headers(self, send):
        forbidden = False

        async def wrapped(message):
            nonlocal forbidden
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {h for h, _ in HEADERS}]
                if message["status"] == 403:  # Gradio's file route echoes the path it refused
                    forbidden = True
                    body = json.dumps({"detail": "forbidden"}).encode()
                    headers = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
                    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                    await send({**message, "headers": headers + HEADERS})
                    await send({"type": "http.response.body", "body": body})
                    return
                message = {**message, "headers": headers + HEADERS}
            elif forbidden:
                return  # the original body was replaced
            await send(message)

        return wrapped


def only_http_links(obj):
    """A copy of an answer, article or list of them whose ``url`` fields are http(s) or None."""
    if isinstance(obj, list):
        return [only_http_links(o) for o in obj]
    update = {"url": http_url(obj.url)} if hasattr(obj, "url") else {}
    if hasattr(obj, "citations"):
        update["citations"] = only_http_links(obj.citations)
    return obj.model_copy(update=update)


class Utf8Json:
    """ASGI middleware: a JSON request body under ``prefix`` that is not UTF-8 is a 422 naming the byte
    (FastAPI alone answers a vague 400). The body is read here and handed on unchanged."""

    def __init__(self, app, prefix: str = "/api/") -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope, receive, send):
        ctype = dict(scope.get("headers", [])).get(b"content-type", b"")
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix) or b"json" not in ctype:
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            detail = f"request body is not valid UTF-8 (byte {exc.start})"
            return await JSONResponse({"detail": detail}, 422)(scope, receive, send)
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
