"""``stylegan-t serve PATH|emoji [--host 127.0.0.1] [--port 7860] [--device cpu|cuda]``: the browser playground.

Loads the generator once and serves a page (type a prompt, drag the sliders, save PNG / GIF, a seed
grid) plus a JSON/HTTP API (``/api/generate``, ``/api/grid``, ``/api/gif``; see docs/playground.md).
"""
from __future__ import annotations

import argparse

from ..precision import PRECISION_HELP, PRECISIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="training checkpoint (.ckpt), export (.safetensors), pretrained folder, or the "
                                     "name of a model shipped with stylegan_t: emoji")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--prompt", default=None,
                        help="the prompt whose image the page opens with (default: the run's first sample prompt "
                             "for a training checkpoint, else 'a photo of a cat')")
    parser.add_argument("--text-encoder", default=None, metavar="MODEL",
                        help="override the stored open_clip spec, e.g. local-dir:/moved/folder")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..serve import PlaygroundEngine, PlaygroundServer, load_pipeline
    from ..serve.engine import default_prompt
    from .checks import check_device

    if not 0 <= args.port <= 65535:  # checked before the model loads; socket's own error is an OverflowError
        raise UserError(f"--port must be in 0..65535 (0 picks a free one), got {args.port}")
    check_device(args.device)
    try:
        pipe = load_pipeline(args.path, device=args.device, text_encoder=args.text_encoder, precision=args.precision)
    except UserError as err:
        raise SystemExit(f"stylegan-t serve: {err}")
    try:
        engine = PlaygroundEngine(pipe, default_prompt=args.prompt or default_prompt(args.path))
        server = PlaygroundServer(engine, host=args.host, port=args.port)
    except (OSError, OverflowError) as err:
        reason = getattr(err, "strerror", None) or err
        raise SystemExit(f"stylegan-t serve: cannot listen on {args.host}:{args.port} ({reason}); pick another "
                         "--port (0: any free one) or --host")
    print(f"loaded {args.path}: {pipe}")
    print(pipe.resolve_precision(1).describe())  # measured before the first request, not during it
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
