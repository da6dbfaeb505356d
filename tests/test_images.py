from __future__ import annotations

import http.server
import io
import socket
import threading
import time
from typing import ClassVar

import pytest
from PIL import Image

from core.catalog.images import (
    FAILED,
    MISSING,
    OK,
    ImageError,
    cache_path,
    check_local,
    download_images,
    load_rgb,
    thumbnail_data_uri,
)


def _jpeg_bytes(size=(40, 30), color=(200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_good_and_odd_images_decode_to_rgb(tmp_path):
    cases = {
        "rgb.jpg": Image.new("RGB", (10, 10), "red"),
        "cmyk.jpg": Image.new("CMYK", (10, 10), (0, 255, 255, 0)),
        "alpha.png": Image.new("RGBA", (10, 10), (0, 0, 255, 0)),
        "grey16.png": Image.new("I;16", (10, 10), 40000),
    }
    for name, image in cases.items():
        image.save(tmp_path / name)
    frames = [Image.new("P", (8, 8), i) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    for name in [*cases, "anim.gif"]:
        image = load_rgb(tmp_path / name)
        assert image.mode == "RGB", name
        assert check_local(tmp_path / name).status == OK
    # transparent pixels land on white, not black
    assert load_rgb(tmp_path / "alpha.png").getpixel((0, 0)) == (255, 255, 255)
    # 16-bit grey is scaled, not clipped to white
    assert load_rgb(tmp_path / "grey16.png").getpixel((0, 0))[0] == 40000 // 256


def test_broken_files_fail_with_a_reason(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("this is not an image")
    full = _jpeg_bytes((200, 200))
    (tmp_path / "truncated.jpg").write_bytes(full[: len(full) * 2 // 3])
    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png")
    expected = {
        "empty.jpg": "empty file",
        "text.jpg": "not a readable image",
        "truncated.jpg": "cannot decode",
        "bomb.png": "too large",
    }
    for name, reason in expected.items():
        check = check_local(tmp_path / name)
        assert check.status == FAILED, name
        assert reason in check.error, (name, check.error)
    assert check_local(tmp_path / "nope.jpg").status == MISSING
    with pytest.raises(ImageError):
        load_rgb(b"")


def test_thumbnail_is_a_small_data_uri(tmp_path):
    Image.new("RGB", (400, 300), "blue").save(tmp_path / "a.jpg")
    uri = thumbnail_data_uri(tmp_path / "a.jpg")
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) < 5000
    assert thumbnail_data_uri(tmp_path / "missing.jpg") == ""


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        _Handler.hits[self.path] = _Handler.hits.get(self.path, 0) + 1
        if self.path == "/ok.jpg":
            body = _jpeg_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/page.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>captcha</html>")
        elif self.path == "/loop.jpg":
            self.send_response(302)
            self.send_header("Location", "/loop.jpg")
            self.end_headers()
        elif self.path == "/flaky.jpg" and _Handler.hits[self.path] == 1:
            self.send_response(503)
            self.end_headers()
        elif self.path == "/flaky.jpg":
            body = _jpeg_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/slow.jpg":
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        elif self.path == "/fake.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            self.wfile.write(b"GIF89a but not really")
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture
def image_server():
    class QuietServer(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # clients time out on purpose
            pass

    server = QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.hits = {}
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_downloads_mark_each_url_and_cache_the_good_ones(image_server, tmp_path):
    names = ["ok", "page", "loop", "flaky", "missing", "slow", "fake"]
    urls = [f"{image_server}/{n}.jpg" for n in names]
    from core.catalog import images

    results, warning = download_images(urls, tmp_path, timeout=1.0, retries=1)
    assert warning == ""
    status = {n: results[u] for n, u in zip(names, urls, strict=True)}
    assert status["ok"].status == OK and cache_path(tmp_path, urls[0]).is_file()
    assert status["flaky"].status == OK  # retried after a 503
    assert "Content-Type text/html" in status["page"].error
    assert "redirect" in status["loop"].error
    assert status["missing"].error == "HTTP 404"
    assert status["slow"].error == "timed out"
    assert status["fake"].status == FAILED and "image" in status["fake"].error
    # a second run is served from the cache without a request
    before = dict(_Handler.hits)
    again, _ = download_images([urls[0]], tmp_path)
    assert again[urls[0]].status == OK and _Handler.hits == before
    assert images.MAX_REDIRECTS == 5


def test_offline_downloads_fail_fast_with_one_message(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago refuses connections
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    urls = [f"http://127.0.0.1:{port}/{i}.jpg" for i in range(50)]
    started = time.perf_counter()
    results, warning = download_images(urls, tmp_path, timeout=10.0, retries=3)
    assert time.perf_counter() - started < 5
    assert warning.startswith("offline: cannot reach 127.0.0.1; 50 image(s)")
    assert all(r.status == FAILED and "offline" in r.error for r in results.values())
