"""Fetching, caching, decoding and size-limiting product images.

Every failure is per image: a broken file or URL yields a status and a reason for that
product, never an exception that stops a batch.
"""

from __future__ import annotations

import hashlib
import socket
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from PIL import Image, ImageFile, ImageOps

from core.files import write_bytes_atomic
from core.net import host_reachable
from core.progress import Progress

OK, MISSING, FAILED = "ok", "missing", "failed"

MAX_PIXELS = 40_000_000  # 40 MP: far above any product photo, far below a decompression bomb
MAX_DOWNLOAD_BYTES = 15 * 1024 * 1024
MAX_REDIRECTS = 5
USER_AGENT = "ProductLens/0.1 (+image fetcher)"


class ImageError(ValueError):
    """An image that cannot be used, with a reason fit to show to a person."""


@dataclass(frozen=True)
class ImageCheck:
    status: str
    error: str = ""
    path: str = ""


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


def _open_checked(source: Path | bytes) -> Image.Image:
    """Open an image lazily, refusing empty files, non-images and oversized canvases."""
    import io

    if isinstance(source, bytes):
        if not source:
            raise ImageError("empty file (0 bytes)")
        handle: object = io.BytesIO(source)
    else:
        if source.stat().st_size == 0:
            raise ImageError("empty file (0 bytes)")
        handle = source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(handle)  # type: ignore[arg-type]
    except Image.DecompressionBombWarning as exc:
        raise ImageError(f"image too large ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large ({exc})") from exc
    except Exception as exc:  # PIL raises many types for non-images
        raise ImageError(f"not a readable image ({type(exc).__name__})") from exc
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(f"image too large ({width}×{height} pixels, limit {MAX_PIXELS:,})")
    if width < 1 or height < 1:
        raise ImageError("image has no pixels")
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB for the model: first frame of animations, EXIF rotation, alpha on white."""
    if getattr(image, "is_animated", False):
        image.seek(0)
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.split()[-1])
        return canvas
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping to white.
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def load_rgb(source: str | Path | bytes, min_side: int | None = None) -> Image.Image:
    """Decode fully into an RGB image or raise ImageError with a readable reason.

    `min_side`: a JPEG may be decoded at a reduced scale (libjpeg's DCT scaling, several
    times faster for large photos) as long as both sides stay at least this long."""
    image = _open_checked(Path(source) if isinstance(source, str) else source)
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        if min_side:
            image.draft("RGB", (min_side, min_side))
        image.load()
        return to_rgb(image)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot decode image ({exc})") from exc
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def check_local(path: str | Path) -> ImageCheck:
    """Whether a local file is a usable image, decoding it once."""
    file = Path(path)
    if not file.is_file():
        return ImageCheck(MISSING, "file not found", str(file))
    try:
        load_rgb(file)
    except ImageError as exc:
        return ImageCheck(FAILED, str(exc), str(file))
    except OSError as exc:
        return ImageCheck(FAILED, f"cannot read file ({exc.strerror or exc})", str(file))
    return ImageCheck(OK, "", str(file))


def check_many(paths: Iterable[str], workers: int = 4) -> list[ImageCheck]:
    items = list(paths)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(check_local, items))


def thumbnail_data_uri(path: str | Path, size: int = 96) -> str:
    """A small JPEG as a data URI (Streamlit's ImageColumn cannot read local paths)."""
    import base64
    import io

    try:
        image = load_rgb(Path(path))
    except (ImageError, OSError):
        return ""
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --- downloading -----------------------------------------------------------------------


def cache_path(cache_dir: Path, url: str) -> Path:
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.img"


class _LimitedRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS


def _fetch_once(url: str, timeout: float, max_bytes: int) -> bytes:
    opener = urllib.request.build_opener(_LimitedRedirects())
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with opener.open(request, timeout=timeout) as response:
        content_type = response.headers.get("Content-Type", "")
        if content_type and not content_type.lower().startswith("image/"):
            raise ImageError(f"not an image (Content-Type {content_type.split(';')[0]})")
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise ImageError(f"too large ({int(length):,} bytes, limit {max_bytes:,})")
        body = response.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise ImageError(f"too large (over {max_bytes:,} bytes)")
    return body


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code == 429
    return isinstance(exc, urllib.error.URLError | TimeoutError | socket.timeout | ConnectionError)


def _describe(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        if 300 <= exc.code < 400:
            return f"too many redirects (HTTP {exc.code})"
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable ({exc.reason})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return str(exc)


def fetch_image(
    url: str,
    cache_dir: Path,
    timeout: float = 10.0,
    retries: int = 2,
    backoff_s: float = 0.5,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> ImageCheck:
    """Download one image into the cache (or find it there) and check that it decodes."""
    target = cache_path(cache_dir, url)
    if target.is_file():
        return ImageCheck(OK, "", str(target))
    if urlparse(url).scheme not in ("http", "https"):
        return ImageCheck(FAILED, f"unsupported URL {url[:80]!r}")
    last = ""
    for attempt in range(retries + 1):
        try:
            body = _fetch_once(url, timeout, max_bytes)
            load_rgb(body)
        except ImageError as exc:
            return ImageCheck(FAILED, str(exc))
        except Exception as exc:
            last = _describe(exc)
            if not _is_retryable(exc) or attempt == retries:
                return ImageCheck(FAILED, last)
            time.sleep(backoff_s * (2**attempt))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, body)  # a killed run never leaves a half file in the cache
        return ImageCheck(OK, "", str(target))
    return ImageCheck(FAILED, last)


def download_images(
    urls: list[str],
    cache_dir: Path,
    workers: int = 8,
    timeout: float = 10.0,
    retries: int = 2,
    progress: Progress | None = None,
) -> tuple[dict[str, ImageCheck], str]:
    """Fetch many URLs concurrently. Returns per-URL results and a one-line warning.

    Cached URLs never touch the network. When the first host cannot be reached at all,
    the remaining downloads fail at once with one clear message instead of each one
    sitting through its own timeouts and retries.
    """
    results: dict[str, ImageCheck] = {}
    pending: list[str] = []
    for url in dict.fromkeys(urls):
        cached = cache_path(cache_dir, url)
        if cached.is_file():
            results[url] = ImageCheck(OK, "", str(cached))
        elif url:
            pending.append(url)
    warning = ""
    if pending:
        probe = next((u for u in pending if urlparse(u).hostname), "")
        if probe and not host_reachable(probe, timeout=min(timeout, 3.0)):
            host = urlparse(probe).hostname
            warning = f"offline: cannot reach {host}; {len(pending)} image(s) not downloaded"
            for url in pending:
                results[url] = ImageCheck(FAILED, f"offline (cannot reach {host})")
            pending = []
    done = len(results)
    total = done + len(pending)
    if progress:
        progress(done, total, "images")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {
            pool.submit(fetch_image, url, cache_dir, timeout, retries): url for url in pending
        }
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            done += 1
            if progress:
                progress(done, total, "images")
    return results, warning
