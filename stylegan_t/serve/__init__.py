"""The browser playground (``stylegan-t serve``): a standard-library HTTP server, one static page, a JSON/HTTP API."""
from .engine import PlaygroundEngine, load_pipeline
from .params import RequestError
from .server import PlaygroundServer

__all__ = ["PlaygroundEngine", "PlaygroundServer", "RequestError", "load_pipeline"]
