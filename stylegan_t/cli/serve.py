"""``stylegan-t serve PATH|emoji [--host 127.0.0.1] [--port 7860] [--device cpu|cuda]``: the browser playground.

Loads the generator once and serves a page (type a prompt, drag the sliders, save PNG / GIF, a seed
grid) plus a JSON/HTTP API (``/api/generate``, ``/api/grid``, ``/api/gif``; see docs/playground.md).
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="training checkpoint (.ckpt), export (.safetensors), pretrained folder, or the "
                                     "name of a model shipped with stylegan_t: emoji")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--text-encoder", default=None, metavar="MODEL",
                        help="override the stored open_clip spec, e.g. local-dir:/moved/folder")


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..serve import PlaygroundEngine, PlaygroundServer, load_pipeline

    try:
        pipe = load_pipeline(args.path, device=args.device, text_encoder=args.text_encoder)
    except UserError as err:
        raise SystemExit(f"stylegan-t serve: {err}")
    try:
        server = PlaygroundServer(PlaygroundEngine(pipe), host=args.host, port=args.port)
    except OSError as err:
        raise SystemExit(f"stylegan-t serve: cannot listen on {args.host}:{args.port}: {err.strerror or err}")
    print(f"loaded {args.path}: {pipe}")
    print(f"playground at {server.url}  (Ctrl+C to stop)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: listening on {args.host}, not only this machine; the playground has no authentication", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        server.server_close()
    return 0
