"""The playground's HTTP side: Python's ``http.server`` with one static page and a JSON/HTTP API.

Routes: ``GET /`` (the page), ``GET /static/<file>``, ``GET /api/info``, and ``GET``/``POST`` on
``/api/generate`` (PNG), ``/api/grid`` (PNG), ``/api/gif`` (GIF). Bad input answers 400/413/422 with
``{"error": message, "field": name}``; nothing a client sends stops the server.
"""
from __future__ import annotations

import json
import logging
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import urlsplit

from .engine import PlaygroundEngine
from .params import MAX_BODY_BYTES, RequestError, generate_params, gif_params, grid_params, parse_json_body, parse_query

log = logging.getLogger(__name__)
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
#: API route -> (parameter parser, engine method name, content type)
API_ROUTES = {
    "/api/generate": (generate_params, "generate", "image/png"),
    "/api/grid": (grid_params, "grid", "image/png"),
    "/api/gif": (gif_params, "gif", "image/gif"),
}


def static_file(name: str) -> bytes | None:
    """A file shipped in ``stylegan_t/serve/static`` (package data), or None."""
    if "/" in name or name.startswith(".") or not any(name.endswith(ext) for ext in STATIC_TYPES):
        return None
    path = resources.files(__package__).joinpath("static", name)
    return path.read_bytes() if path.is_file() else None


class PlaygroundHandler(BaseHTTPRequestHandler):
    """One request; ``self.server.engine`` is the shared :class:`PlaygroundEngine`."""

    server: "PlaygroundServer"
    server_version = "stylegan-t-playground"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.info("%s %s", self.address_string(), format % args)

    # --- responses -------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _send_error(self, err: RequestError) -> None:
        self._send_json(err.status, {"error": str(err), "field": err.field})

    # --- methods ---------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        if url.path in API_ROUTES:
            self._api(url.path, lambda: parse_query(url.query))
        elif url.path == "/api/info":
            self._send_json(200, self.server.engine.info())
        elif url.path in ("/", "/index.html"):
            self._static("index.html")
        elif url.path.startswith("/static/"):
            self._static(url.path[len("/static/"):])
        else:
            self._send_error(RequestError(f"no such page: {url.path}", status=404))

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path not in API_ROUTES:
            self._send_error(RequestError(f"POST goes to one of {sorted(API_ROUTES)}, not {path}", status=404))
            return
        self._api(path, lambda: parse_json_body(self._read_body()))

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise RequestError("bad Content-Length header", status=400) from None
        if length > MAX_BODY_BYTES:
            if length <= 16 * MAX_BODY_BYTES:
                self.rfile.read(length)  # drain a moderately large body so the client reads the 413, not a reset
            self.close_connection = True
            raise RequestError(f"request body too large: {length} bytes, at most {MAX_BODY_BYTES}", status=413)
        return self.rfile.read(length) if length > 0 else b""

    def _static(self, name: str) -> None:
        body = static_file(name)
        if body is None:
            self._send_error(RequestError(f"no such file: {name}", status=404))
            return
        self._send(200, body, STATIC_TYPES["." + name.rsplit(".", 1)[-1]])

    def _api(self, path: str, read) -> None:
        """Parse, run the model, answer; a bug answers 500 and the server keeps going."""
        parse, method, content_type = API_ROUTES[path]
        try:
            params = parse(read())
            # A request the page already cancelled (superseded while it waited for the model) is skipped.
            body, ms = getattr(self.server.engine, method)(params, cancelled=self._client_gone)
            if body is None:
                return
        except RequestError as err:
            self._send_error(err)
            return
        except Exception as err:  # noqa: BLE001 - one failing request must not take the server down
            log.exception("request %s failed", path)
            self._send_json(500, {"error": f"internal error: {type(err).__name__}: {err}", "field": None})
            return
        self._send(200, body, content_type, {"X-Generation-Ms": f"{ms:.1f}"})

    def _client_gone(self) -> bool:
        """True when the client closed the connection (the page aborts superseded requests)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class PlaygroundServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the one :class:`PlaygroundEngine` all handlers share."""

    daemon_threads = True

    def __init__(self, engine: PlaygroundEngine, host: str = "127.0.0.1", port: int = 7860) -> None:
        self.engine = engine
        super().__init__((host, port), PlaygroundHandler)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up mid-answer (an aborted fetch) is normal; anything else is logged."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        log.exception("error while answering %s", client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def start_background(self) -> threading.Thread:
        """Serve from a daemon thread (tests, notebooks); stop with ``shutdown()`` then ``server_close()``."""
        thread = threading.Thread(target=self.serve_forever, name="stylegan-t-playground", daemon=True)
        thread.start()
        return thread
