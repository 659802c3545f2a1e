"""``stylegan-t serve`` (issue 17): the JSON/HTTP API on a tiny random export, bad input, concurrency."""
from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import torch
from PIL import Image

from stylegan_t.export import export_generator
from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig
from stylegan_t.pipeline import to_uint8
from stylegan_t.serve import PlaygroundEngine, PlaygroundServer, load_pipeline
from stylegan_t.serve.engine import png_bytes
from stylegan_t.serve.params import GenerateParams

RES = 16


@pytest.fixture(scope="module")
def export_path(tiny_clip, tmp_path_factory):
    """A tiny random generator exported to a file, so the real loader runs."""
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(img_resolution=RES, preset="tiny", text_encoder=TextEncoderConfig(model=tiny_clip)))
    with torch.no_grad():
        G.mapping.x_avg.normal_()
    return export_generator(G.eval(), tmp_path_factory.mktemp("serve") / "tiny.safetensors")


@pytest.fixture(scope="module")
def server(export_path, single_thread):
    srv = PlaygroundServer(PlaygroundEngine(load_pipeline(export_path, device="cpu")), port=0)
    srv.start_background()
    yield srv
    srv.shutdown()
    srv.server_close()


def call(server, path: str, body=None, *, query: dict | None = None, raw: bytes | None = None):
    """-> (status, content type, body bytes); POST when ``body`` or ``raw`` is given."""
    url = server.url.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def png(server, **params) -> bytes:
    status, kind, body = call(server, "/api/generate", params)
    assert (status, kind) == (200, "image/png"), body[:300]
    return body


def pixels(data: bytes) -> torch.Tensor:
    return torch.tensor(list(Image.open(io.BytesIO(data)).convert("RGB").getdata()), dtype=torch.int16)


def test_generate_is_the_pipeline_image_and_deterministic(server):
    a = png(server, prompt="a red cube", seed=3, psi=0.7)
    image = Image.open(io.BytesIO(a))
    assert image.format == "PNG" and image.size == (RES, RES)
    assert png(server, prompt="a red cube", seed=3, psi=0.7) == a  # same request, same bytes
    assert png(server, prompt="a red cube", seed=4, psi=0.7) != a  # another seed, another image
    status, _, via_get = call(server, "/api/generate", query={"prompt": "a red cube", "seed": "3", "psi": "0.7"})
    assert status == 200 and via_get == a
    expected = server.engine.pipe("a red cube", seeds=[3], truncation_psi=0.7)[0]
    assert a == png_bytes(expected)  # exactly what stylegan_t.load(...)(prompt, seed) gives
    styled = png(server, prompt="a red cube", seed=3, psi=0.7, style="pixel art")
    assert styled == png_bytes(server.engine.pipe("a red cube, pixel art", seeds=[3], truncation_psi=0.7)[0])


def test_interpolation_ends_and_middle(server):
    pipe = server.engine.pipe
    base = dict(prompt="a red cube", seed=1, psi=0.8)
    assert png(server, **base, prompt2="a blue ball", alpha=0) == png(server, **base)
    assert png(server, **base, prompt2="a blue ball", alpha=1) == png(server, **{**base, "prompt": "a blue ball"})
    assert png(server, **base, seed2=9, alpha=1) == png(server, **{**base, "seed": 9})
    # The middle of a prompt interpolation is the pipeline's (x fixed, t lerped: the prompt interpolation of arXiv 2301.09515).
    frames = pipe.interpolate_prompts("a red cube", "a blue ball", 1, 3, truncation_psi=0.8, output_type="tensor")
    expected = to_uint8(frames[1]).permute(1, 2, 0).reshape(-1, 3).to(torch.int16)
    middle = pixels(png(server, **base, prompt2="a blue ball", alpha=0.5))
    assert (middle - expected).abs().max() <= 1
    assert not torch.equal(middle, pixels(png(server, **base)))
    # Seed interpolation is the pipeline's slerp walk.
    walk = pipe.interpolate_seeds("a red cube", 1, 9, 3, truncation_psi=0.8, output_type="tensor")
    expected = to_uint8(walk[1]).permute(1, 2, 0).reshape(-1, 3).to(torch.int16)
    assert (pixels(png(server, **base, seed2=9, alpha=0.5)) - expected).abs().max() <= 1


def test_grid_and_gif(server):
    status, kind, body = call(server, "/api/grid", {"prompt": "a dog", "seeds": "0-5", "cols": 4})
    assert (status, kind) == (200, "image/png")
    assert Image.open(io.BytesIO(body)).size == (4 * RES, 2 * RES)
    status, _, listed = call(server, "/api/grid", {"prompt": "a dog", "seeds": [0, 1, 2, 3, 4, 5], "cols": 4})
    assert status == 200 and listed == body
    status, kind, gif = call(server, "/api/gif", {"prompt": "a dog", "prompt2": "a cat", "seed2": 4, "frames": 5})
    assert (status, kind) == (200, "image/gif")
    image = Image.open(io.BytesIO(gif))
    assert image.format == "GIF" and image.n_frames == 5 and image.size == (RES, RES)
    status, _, info = call(server, "/api/info")
    assert status == 200 and json.loads(info)["resolution"] == RES


BAD_INPUTS = [
    ("/api/generate", {"prompt": "", "seed": 0}, 422, "prompt must not be empty"),
    ("/api/generate", {"prompt": "   ", "seed": 0}, 422, "prompt must not be empty"),
    ("/api/generate", {"seed": 0}, 422, "prompt is required"),
    ("/api/generate", {"prompt": 5}, 422, "prompt must be a string"),
    ("/api/generate", {"prompt": "x" * 1001}, 413, "at most 1000"),
    ("/api/generate", {"prompt": "a", "seed": "abc"}, 422, "seed must be an integer"),
    ("/api/generate", {"prompt": "a", "seed": 1.5}, 422, "seed must be an integer"),
    ("/api/generate", {"prompt": "a", "seed": True}, 422, "seed must be an integer"),
    ("/api/generate", {"prompt": "a", "seed": -1}, 422, "seed must be in"),
    ("/api/generate", {"prompt": "a", "seed": 2**63}, 422, "seed must be in"),
    ("/api/generate", {"prompt": "a", "psi": float("nan")}, 422, "psi must be a finite number"),
    ("/api/generate", {"prompt": "a", "psi": "inf"}, 422, "psi must be a finite number"),
    ("/api/generate", {"prompt": "a", "psi": "strong"}, 422, "psi must be a number"),
    ("/api/generate", {"prompt": "a", "noise_mode": "loud"}, 422, "noise_mode must be one of"),
    ("/api/generate", {"prompt": "a", "prompt2": "b", "alpha": 1.5}, 422, "alpha must be in"),
    ("/api/generate", {"prompt": "a", "truncation": 0.5}, 400, "unknown parameter(s) 'truncation'"),
    ("/api/generate", b"{not json", 400, "not valid JSON"),
    ("/api/generate", b"[1, 2]", 400, "must be a JSON object"),
    ("/api/generate", b"", 400, "must be a JSON object"),
    ("/api/generate", b" " * 70_000, 413, "request body too large"),
    ("/api/grid", {"prompt": "a", "seeds": "0-100"}, 413, "too many seeds"),
    ("/api/grid", {"prompt": "a", "seeds": "7-3"}, 422, "seeds:"),
    ("/api/gif", {"prompt": "a", "seed": 0}, 422, "give prompt2 or seed2"),
    ("/api/gif", {"prompt": "a", "seed2": 1, "frames": 1000}, 422, "frames must be in"),
    ("/api/nothing", {"prompt": "a"}, 404, "POST goes to one of"),
]


@pytest.mark.parametrize("path,payload,status,message", BAD_INPUTS)
def test_bad_input_answers_4xx_and_keeps_serving(server, path, payload, status, message):
    got, kind, body = call(server, path, raw=payload) if isinstance(payload, bytes) else call(server, path, payload)
    assert got == status and kind == "application/json", body[:300]
    assert message in json.loads(body)["error"]
    assert Image.open(io.BytesIO(png(server, prompt="still here", seed=0))).size == (RES, RES)


def test_bad_query_parameters(server):
    for query, message in [({"prompt": "a", "seed": "x"}, "seed must be an integer"), ({"prompt": "a", "psi": "nan"}, "finite")]:
        status, _, body = call(server, "/api/generate", query=query)
        assert status == 422 and message in json.loads(body)["error"]
    status, _, body = call(server, "/api/generate?prompt=a&seed=1&seed=2")
    assert status == 400 and "given 2 times" in json.loads(body)["error"]


def test_concurrent_requests_match_sequential(server):
    """N threads at once get exactly the bytes of one-at-a-time calls (the model is behind one lock)."""
    requests = [{"prompt": f"shape {i % 3}", "seed": i, "psi": 0.5 + 0.1 * (i % 4), "noise_mode": ("const", "random")[i % 2]}
                for i in range(8)]
    sequential = [png(server, **r) for r in requests]
    results: list = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = png(server, **requests[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == sequential
    assert len(set(sequential)) == len(sequential)


def test_abandoned_connections_do_not_stop_the_server(server):
    host, port = server.server_address[:2]
    with socket.create_connection((host, port)) as s:  # a request cut off mid-body
        s.sendall(b"POST /api/generate HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"prompt\":")
    with socket.create_connection((host, port)) as s:  # garbage instead of HTTP
        s.sendall(b"\x00\x01 hello\r\n\r\n")
        s.recv(1000)
    assert png(server, prompt="after", seed=2)


def test_abandoned_request_skips_the_model(server, monkeypatch):
    """A request whose client hung up while it waited for the model (a superseded edit) is not generated."""
    engine, prompts = server.engine, []
    entered, done = threading.Event(), threading.Event()
    frames, generate = engine._frames, engine.generate
    monkeypatch.setattr(engine, "_frames", lambda p, alphas: prompts.append(p.prompt) or frames(p, alphas))

    def traced(p, cancelled=None):
        entered.set()
        try:
            return generate(p, cancelled)
        finally:
            done.set()

    monkeypatch.setattr(engine, "generate", traced)
    body = json.dumps({"prompt": "gone", "seed": 1}).encode()
    with engine.lock:  # the model is busy
        s = socket.create_connection(server.server_address[:2])
        s.sendall(b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        assert entered.wait(30)
        s.close()  # the page aborted it
        time.sleep(0.2)
    assert done.wait(30)
    assert prompts == []
    assert png(server, prompt="after", seed=2) and prompts == ["after"]


def test_cancelled_requests_skip_the_model(server):
    assert server.engine.generate(GenerateParams(prompt="a"), cancelled=lambda: True) == (None, 0.0)
    data, ms = server.engine.generate(GenerateParams(prompt="a"), cancelled=lambda: False)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and ms > 0


def test_page_and_static_files(server):
    status, kind, page = call(server, "/")
    assert status == 200 and kind.startswith("text/html") and b'id="prompt"' in page
    for name, kind_prefix in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        status, kind, _ = call(server, f"/static/{name}")
        assert status == 200 and kind.startswith(kind_prefix)
    for bad in ("/static/../params.py", "/static/missing.js", "/etc/passwd"):
        assert call(server, bad)[0] == 404


def test_cli_serves_on_loopback(export_path):
    """The real command: binds 127.0.0.1 by default, loads once, answers, and a bad path is one clear line."""
    cmd = [sys.executable, "-m", "stylegan_t.cli.main", "serve", str(export_path), "--port", "0", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]  # loaded ..., precision ..., playground at ...
        assert lines[1].startswith("precision auto -> ") and lines[2].startswith("playground at http://127.0.0.1:"), lines
        url = lines[2].split()[2]
        with urllib.request.urlopen(url + "api/generate?prompt=a+fox&seed=1", timeout=60) as response:
            assert Image.open(io.BytesIO(response.read())).size == (RES, RES)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    bad = subprocess.run(cmd[:4] + ["/nonexistent/model.ckpt"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "stylegan-t serve:" in bad.stderr and "Traceback" not in bad.stderr
