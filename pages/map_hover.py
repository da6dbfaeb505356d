"""Product photos on hover over the Embedding map.

Plotly tooltips cannot hold images, so a zero-height component script (its iframe shares
the app's origin) listens to the map's `plotly_hover` events and floats the hovered
product's thumbnail beside Plotly's tooltip. The thumbnails travel once in the script,
not in every figure: a colour switch re-sends the figure, not the photos.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable

import streamlit.components.v1 as components

from core.catalog.images import thumbnail_data_uri
from core.net import host_reachable

# Inline thumbnails (~3 KB each) beyond this many would make the page heavy; past it,
# products with a web image URL still get their photo when its host answers. The
# script carries at most MAX_PHOTOS sources (web URLs are ~80 bytes: 1.6 MB at the cap).
MAX_INLINE = 3000
MAX_PHOTOS = 20_000
THUMBNAIL_PX = 96

_SCRIPT = """
<script>
const SOURCES = %(sources)s;
const doc = window.parent.document;
let tip = doc.getElementById("productlens-hover-photo");
if (!tip) {
  tip = doc.createElement("img");
  tip.id = "productlens-hover-photo";
  tip.alt = "product photo";
  Object.assign(tip.style, {
    position: "fixed", display: "none", width: "%(px)dpx", height: "%(px)dpx",
    objectFit: "contain", background: "#fff", border: "1px solid #d0d0d0",
    borderRadius: "6px", boxShadow: "0 2px 8px rgba(0,0,0,.2)", pointerEvents: "none",
    zIndex: 1000,
  });
  doc.body.appendChild(tip);
}
tip.onerror = () => { tip.style.display = "none"; };  // an unreachable web image
const hide = () => { tip.style.display = "none"; };
const show = (event, chart) => {
  const point = event.points && event.points[0];
  const id = point && point.customdata && String(point.customdata[0]);
  const source = id && SOURCES[id];
  const mouse = event.event;
  if (!source || !mouse) { hide(); return; }
  if (tip.getAttribute("src") !== source) tip.src = source;
  tip.dataset.productId = id;
  tip.chart = chart;
  // Centred above the point, clear of Plotly's tooltip (which sits beside the point,
  // about 30 px either way); below it when the point is near the top.
  const above = mouse.clientY - %(px)d - 40;
  tip.style.left = Math.max(4, mouse.clientX - %(px)d / 2) + "px";
  tip.style.top = (above >= 4 ? above : mouse.clientY + 40) + "px";
  tip.style.display = "block";
};
// A rerun that changes the figure mounts a new chart, so look for new ones; a chart
// replaced under the mouse (a click re-rings the points) sends no unhover, so its photo
// is hidden here.
const attach = () => {
  if (tip.chart && !tip.chart.isConnected) hide();
  for (const chart of doc.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')) {
    if (chart.productlensHover === SOURCES || !chart.on) continue;
    chart.productlensHover = SOURCES;
    chart.on("plotly_hover", (event) => show(event, chart));
    chart.on("plotly_unhover", hide);
  }
};
attach();
setInterval(attach, 400);
</script>
"""


class HoverPhotos:
    """Thumbnails of a catalog's local photos, made in the background: the map opens at
    once and photos join the hover as they are ready (a few ms each). Web photos are
    added per figure, for the points it draws, when their host answers: a million-product
    map draws a sample, and the script carries only what can be hovered."""

    def __init__(
        self,
        local: Iterable[tuple[int, str]] = (),
        web_probe: str = "",
        read: Callable[[], tuple[list[tuple[int, str]], str]] | None = None,
    ) -> None:
        """(product id, photo path) pairs and a web image URL to probe, or `read`: what
        returns both, called in the background (a million products' photo columns are
        not read while the map opens)."""
        self.sources: dict[str, str] = {}
        self.online = False
        self._thread = threading.Thread(
            target=self._fill, args=(list(local), web_probe, read), daemon=True
        )
        self._thread.start()

    def _fill(
        self,
        local: list[tuple[int, str]],
        web_probe: str,
        read: Callable[[], tuple[list[tuple[int, str]], str]] | None,
    ) -> None:
        if read is not None:
            local, web_probe = read()
        # Web images only when their host answers: offline they would be dead weight.
        self.online = _is_web(web_probe) and host_reachable(web_probe, timeout=2.0)
        for product_id, path in local:
            if len(self.sources) >= MAX_INLINE:
                return
            if source := thumbnail_data_uri(path, THUMBNAIL_PX):
                self.sources[str(product_id)] = source

    def wait(self, timeout_s: float | None = None) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def snapshot(self, web: Iterable[tuple[int, str]] = ()) -> dict[str, str]:
        """The thumbnails made so far, then the web photos of `web` ((product id, image
        URL) of the drawn points) while the host answers, up to MAX_PHOTOS in all."""
        sources = dict(self.sources)
        if self.online:
            for product_id, url in web:
                if len(sources) >= MAX_PHOTOS:
                    break
                if _is_web(url):
                    sources.setdefault(str(product_id), url)
        return sources


def _is_web(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def hover_photos_script(sources: dict[str, str]) -> str:
    # "</" cannot close the script early: JSON escapes it.
    payload = json.dumps(sources).replace("</", "<\\/")
    return _SCRIPT % {"sources": payload, "px": THUMBNAIL_PX}


def show_hover_photos(sources: dict[str, str]) -> None:
    """Adds the hover script to the page (nothing visible) when any product has a photo."""
    if sources:
        components.html(hover_photos_script(sources), height=0)
