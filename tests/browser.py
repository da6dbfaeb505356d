"""Drive a running ProductLens in headless Chromium: used by the browser test and for docs."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parent.parent


def browser_available() -> bool:
    return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(env: dict[str, str], timeout_s: float = 90) -> Iterator[str]:
    with running_server(env, timeout_s) as (url, _):
        yield url


@contextlib.contextmanager
def running_server(
    env: dict[str, str], timeout_s: float = 90
) -> Iterator[tuple[str, subprocess.Popen]]:
    """The app served on a free port: its URL and its process (whose memory a bench reads)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "streamlit_app.py"),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
    ]
    # The server's log goes to a file: a pipe nobody reads fills up (64 KB) under a load
    # test's logging and then blocks the server mid-run.
    with tempfile.TemporaryFile(prefix="productlens-app-", suffix=".log") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        with serving(process, f"{url}/_stcore/health", timeout_s):
            yield url, process


@contextlib.contextmanager
def serving(process: subprocess.Popen, health_url: str, timeout_s: float) -> Iterator[None]:
    """Wait until a server `process` answers `health_url`; stop it afterwards."""
    try:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(health_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited ({process.returncode})") from None
                time.sleep(0.5)
        else:
            raise RuntimeError(f"{health_url} did not answer within {timeout_s:.0f} s")
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def chrome(width: int = 1400, height: int = 1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(width, height)
    return driver


def wait_for(driver, css: str, timeout_s: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def settle(driver, timeout_s: float = 60) -> None:
    """Wait until Streamlit has finished running the script. The app's root says so in
    `data-test-script-state` (the toolbar's 'running' widget is hidden in minimal mode)."""
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout_s
    time.sleep(1.0)
    while time.time() < deadline:
        app = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
        state = app[0].get_attribute("data-test-script-state") if app else None
        if state == "notRunning":
            return
        time.sleep(0.3)


def exceptions_on_page(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')]


def search_and_capture(
    url: str, out_dir: Path, query: str, height: int = 1000, width: int = 1400
) -> dict:
    """Open each page, run one search, save screenshots; returns exception texts per page
    (and what hovering a map point showed)."""
    from selenium.webdriver.common.keys import Keys

    out_dir.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}
    driver = chrome(width=width, height=height)
    try:
        driver.get(url)
        box = wait_for(driver, '[data-testid="stTextInput"] input')
        settle(driver)
        box.send_keys(query)
        box.send_keys(Keys.ENTER)  # Enter submits a form
        wait_for(driver, '[data-testid="stDataFrame"]', 90)
        wait_for(driver, '[data-testid="stChatMessage"]', 90)
        settle(driver)
        driver.save_screenshot(str(out_dir / "search.png"))
        found["search"] = exceptions_on_page(driver)
        found["chrome"] = [f"{k}={v}" for k, v in app_chrome(driver).items()]
        _open(driver, "Catalog")
        wait_for(driver, '[data-testid="stDataFrame"]', 60)
        settle(driver)
        time.sleep(1.5)  # let thumbnails paint
        driver.save_screenshot(str(out_dir / "catalog.png"))
        found["catalog"] = exceptions_on_page(driver)
        found["compare"] = _compare(driver, out_dir)
        found["map"] = _embedding_map(driver, out_dir)
        found["hover"] = hover_photo(driver, out_dir)
        found["click"] = click_map_point(driver, out_dir)
        found["issues"] = _data_issues(driver, out_dir)
    finally:
        driver.quit()
    return found


# Watches the page from inside: the time from the Enter key to the first DOM change that
# shows the question's results (a results table, and the question right below it). Polling
# from outside instead would take CPU from the page it is timing.
_WATCH = """
const question = arguments[0];
window.__shownMs = null;
const shown = () => {
  const tables = document.querySelectorAll('[data-testid="stDataFrame"]');
  const users = [...document.querySelectorAll('[data-testid="stChatMessage"]')];
  return tables.length > 0 && users.some(u => u.innerText.includes(question));
};
document.addEventListener('keydown', e => {
  if (e.key !== 'Enter') return;
  const started = performance.now();
  const observer = new MutationObserver(() => {
    if (window.__shownMs === null && shown()) {
      window.__shownMs = performance.now() - started;
      observer.disconnect();
    }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}, {capture: true, once: true});
"""


def _submit_and_time(driver, question: str, timeout_s: float = 120) -> float:
    """Seconds from pressing Enter to the results of `question` being on the page (the
    page shows the question right below its results table)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    box = driver.find_element(By.CSS_SELECTOR, '[data-testid="stTextInput"] input')
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(question)
    driver.execute_script(_WATCH, question)
    box.send_keys(Keys.ENTER)
    shown_ms = WebDriverWait(driver, timeout_s, poll_frequency=0.25).until(
        lambda d: d.execute_script("return window.__shownMs")
    )
    return float(shown_ms) / 1000


def timed_searches(url: str, questions: list[str], out_dir: Path | None = None) -> list[float]:
    """Seconds until each question's results show, in one browser session; the first
    question warms the models. Saves a screenshot after the last one when asked."""
    driver = chrome()
    try:
        driver.get(url)
        wait_for(driver, '[data-testid="stTextInput"] input')
        settle(driver)
        seconds = []
        for question in questions:
            seconds.append(_submit_and_time(driver, question))
            settle(driver)
        if out_dir is not None:  # tall enough to show the last question's whole answer
            out_dir.mkdir(parents=True, exist_ok=True)
            driver.set_window_size(1400, 2000)
            settle(driver)
            driver.save_screenshot(str(out_dir / "search-timed.png"))
        if exceptions_on_page(driver):
            raise RuntimeError(f"exceptions on the page: {exceptions_on_page(driver)}")
        return seconds
    finally:
        driver.quit()


def upload_and_search(url: str, image: Path, out_dir: Path) -> str:
    """Search with an uploaded photo; returns the text of the page's error boxes."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chrome()
    try:
        driver.get(url)
        wait_for(driver, '[data-testid="stFileUploader"] input[type="file"]')
        settle(driver)
        driver.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(image))
        WebDriverWait(driver, 30).until(  # the uploaded file is listed by name
            lambda d: d.execute_script("return document.body.innerText.includes(arguments[0])",
                                       image.name)
        )  # fmt: skip
        submit = '[data-testid="stBaseButton-primaryFormSubmit"]'
        driver.find_element(By.CSS_SELECTOR, submit).click()
        wait_for(driver, '[data-testid="stAlertContentError"]', 90)
        settle(driver)
        out_dir.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out_dir / "search-image-no-images.png"))
        errors = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
        return "\n".join(e.text for e in errors)
    finally:
        driver.quit()


# The sidebar's page links (st.page_link, drawn under the ProductLens heading).
PAGE_LINKS = '[data-testid="stPageLink-NavLink"]'


def app_chrome(driver) -> dict[str, bool]:
    """What the page around every page shows: is there a Deploy button, and does the
    ProductLens heading come before the page links?"""
    from selenium.webdriver.common.by import By

    sidebar = driver.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').text
    deploy = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAppDeployButton"]')
    heading, first_link = sidebar.find("ProductLens"), sidebar.find("Search & Chat")
    return {"deploy_button": bool(deploy), "heading_first": -1 < heading < first_link}


def _open(driver, link_text: str) -> None:
    _open_link(driver, link_text)
    settle(driver)


def _embedding_map(driver, out_dir: Path) -> list[str]:
    _open(driver, "Embedding map")
    wait_for(driver, '[data-testid="stPlotlyChart"]', 180)
    settle(driver)
    time.sleep(1.5)
    driver.save_screenshot(str(out_dir / "map.png"))
    return exceptions_on_page(driver)


# Where the first point of the map's first non-empty trace is, as an offset from the
# chart's centre (what ActionChains moves by).
_POINT_OFFSET = """
const chart = arguments[0], layout = chart._fullLayout;
const trace = chart._fullData.find(t => t.x && t.x.length);
const x = layout._size.l + layout.xaxis.l2p(trace.x[0]);
const y = layout._size.t + layout.yaxis.l2p(trace.y[0]);
const box = chart.getBoundingClientRect();
return [Math.round(x - box.width / 2), Math.round(y - box.height / 2)];
"""
_HOVER_STATE = """
const photo = document.getElementById("productlens-hover-photo");
const tooltip = [...document.querySelectorAll(".hoverlayer .hovertext")].map(e => e.textContent);
return {photo_id: photo.dataset.productId, photo: photo.src.slice(0, 23),
        tooltip: tooltip.join(" ")};
"""


def hover_photo(driver, out_dir: Path) -> dict[str, str]:
    """On the open Embedding map: rerun once (a colour switch, so photos made in the
    background since the first draw are on the page), move the mouse onto a point and
    return what shows: Plotly's tooltip text and the floating photo's product id."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _choose(driver, "Colour by", "price band")
    settle(driver)
    time.sleep(1.0)
    chart = driver.find_element(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"] .js-plotly-plot')
    attached = "return !!arguments[0].productlensHover"  # the page's hover script found it
    WebDriverWait(driver, 15).until(lambda d: d.execute_script(attached, chart))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    time.sleep(0.5)
    dx, dy = driver.execute_script(_POINT_OFFSET, chart)
    ActionChains(driver).move_to_element_with_offset(chart, dx, dy).perform()
    shown = "const p = document.getElementById('productlens-hover-photo');"
    shown += " return !!p && p.style.display === 'block';"
    WebDriverWait(driver, 15).until(lambda d: d.execute_script(shown))
    time.sleep(0.5)
    driver.save_screenshot(str(out_dir / "map-hover.png"))
    return driver.execute_script(_HOVER_STATE)


def click_map_point(driver, out_dir: Path) -> str:
    """On the open Embedding map, in its default drag mode: click the first point; returns
    the "Selected products" heading the page then shows."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chart = driver.find_element(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"] .js-plotly-plot')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    time.sleep(0.5)
    dx, dy = driver.execute_script(_POINT_OFFSET, chart)
    ActionChains(driver).move_to_element_with_offset(chart, dx, dy).click().perform()
    heading = "Selected products (1)"
    try:
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script(f"return {_text_on_page(heading)}")
        )
    except Exception:
        return ""
    settle(driver)
    time.sleep(1.0)
    driver.save_screenshot(str(out_dir / "map-product.png"))
    return heading


_DRAWN_MARKERS = """
const chart = arguments[0], layout = chart._fullLayout, out = [];
for (const trace of chart._fullData) {
  if (!trace.x || !trace.customdata || trace.visible !== true) continue;
  for (let i = 0; i < trace.x.length; i++) {
    out.push([Number(trace.customdata[i][0]),
              layout.xaxis.l2p(trace.x[i]), layout.yaxis.l2p(trace.y[i])]);
  }
}
return [out, layout._size.w, layout._size.h];
"""
_DATA_TO_OFFSET = """
const chart = arguments[0], layout = chart._fullLayout, box = chart.getBoundingClientRect();
const x = layout._size.l + layout.xaxis.l2p(arguments[1]);
const y = layout._size.t + layout.yaxis.l2p(arguments[2]);
return [Math.round(x - box.width / 2), Math.round(y - box.height / 2)];
"""


def click_stored_point(driver, stored: dict[int, tuple[float, float]], clear_px: float = 14):
    """On the open Embedding map, in its default drag mode: find a drawn product with no
    other marker within `clear_px`, click where its *stored* map coordinates fall, and
    return (that product id, the product card's caption). The point is placed from the
    stored projection, not from the figure, so a figure that drew a point somewhere other
    than its stored place, or a click that selects another product, fails."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chart = driver.find_element(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"] .js-plotly-plot')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    time.sleep(0.5)
    markers, width, height = driver.execute_script(_DRAWN_MARKERS, chart)
    ids = np.array([m[0] for m in markers], dtype=np.int64)
    pixels = np.array([m[1:] for m in markers], dtype=float)
    inner = ((pixels[:, 0] > 0.2 * width) & (pixels[:, 0] < 0.8 * width)
             & (pixels[:, 1] > 0.2 * height) & (pixels[:, 1] < 0.8 * height))  # fmt: skip
    for i in np.flatnonzero(inner):
        others = np.delete(pixels, i, axis=0)
        if np.min(np.hypot(*(others - pixels[i]).T)) >= clear_px and int(ids[i]) in stored:
            product_id = int(ids[i])
            break
    else:
        raise LookupError(f"no marker {clear_px} px clear of the others")
    dx, dy = driver.execute_script(_DATA_TO_OFFSET, chart, *map(float, stored[product_id]))
    ActionChains(driver).move_to_element_with_offset(chart, dx, dy).click().perform()
    caption = f"Product {product_id} ·"
    WebDriverWait(driver, 60).until(
        lambda d: (
            d.execute_script(f"return {_text_on_page(caption)}")
            or d.execute_script(f"return {_text_on_page('Selected products (1)')}")
        )
    )
    settle(driver)
    captions = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stCaptionContainer"]')
    return product_id, next((c.text for c in captions if c.text.startswith("Product ")), "")


def open_map(driver, url: str, timeout_s: float = 180) -> None:
    """A fresh visit to `url`, then the Embedding map, once its chart is drawn."""
    driver.get(url)
    wait_for(driver, PAGE_LINKS)
    settle(driver)
    _open(driver, "Embedding map")
    wait_for(driver, '[data-testid="stPlotlyChart"] .js-plotly-plot', timeout_s)
    settle(driver, timeout_s)


def _data_issues(driver, out_dir: Path) -> list[str]:
    _open(driver, "Data issues")
    wait_for(driver, '[data-testid="stTabs"], [data-testid="stAlert"]', 180)
    settle(driver, 180)
    time.sleep(1.0)
    driver.save_screenshot(str(out_dir / "issues.png"))
    return exceptions_on_page(driver)


def fix_a_flagged_label(driver, source: str) -> list[str]:
    """On Data issues, pick the labelled data `source`, store the first flagged item's
    suggested label and wait for the page to say it was stored; what went wrong: the
    page's exceptions, and whether it left `source` (a fix must not switch the data)."""
    from selenium.webdriver.common.by import By

    _choose(driver, "Labelled data", source)
    settle(driver, 180)
    _button(driver, "Store this label").click()
    wait_for_text(driver, "Stored as labeller", 120)
    settle(driver)
    shown = driver.find_element(By.CSS_SELECTOR, "input[aria-label='Labelled data']")
    now = shown.get_attribute("value") or ""
    return exceptions_on_page(driver) + ([] if now.startswith(source) else [f"now on {now}"])


def visit(driver, url: str, page: str) -> None:
    """A fresh visit to `url`, then the page whose link says `page`."""
    driver.get(url)
    wait_for(driver, PAGE_LINKS)
    settle(driver)
    _open(driver, page)


def compared_label_set(driver, dataset: str) -> str:
    """On Model comparison, compare the default pair on `dataset`; the label set its
    Details say the comparison was scored on."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _choose(driver, "Labelled data", dataset)
    _button(driver, "Compare").click()
    time.sleep(0.5)
    settle(driver, 180)
    _unfold(driver)

    def opened_details(d) -> str | None:  # the expander's body shows once it has opened
        expanders = d.find_elements(By.CSS_SELECTOR, '[data-testid="stExpander"]')
        return next((e.text for e in expanders if "labels:" in e.text), None)

    details = WebDriverWait(driver, 30).until(opened_details)
    return details.split("labels:", 1)[1].split("·", 1)[0].strip()


def wait_for_text(driver, text: str, timeout_s: float = 60) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout_s).until(lambda d: text in d.page_source)


def _compare(driver, out_dir: Path) -> list[str]:
    """Open Model comparison; when it offers a comparison, run it and wait for the charts."""
    from selenium.webdriver.common.by import By

    _open(driver, "comparison")
    buttons = [
        b
        for b in driver.find_elements(
            By.CSS_SELECTOR, '[data-testid="stBaseButton-primaryFormSubmit"]'
        )
        if "Compare" in b.text
    ]
    if buttons:
        buttons[0].click()
        wait_for(driver, '[data-testid="stPlotlyChart"]', 180)
        settle(driver)
        time.sleep(1.5)
    driver.save_screenshot(str(out_dir / "compare.png"))
    return exceptions_on_page(driver)


# Times an interaction from inside the page: from the moment the watcher is installed
# (right before the click or key) to the first DOM change after which Streamlit has
# finished its run and `arguments[0]` (a JS expression) holds.
_WATCH_UNTIL = """
const ready = new Function('return (' + arguments[0] + ');');
window.__doneMs = null;
const started = performance.now();
const done = () => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning' && ready();
};
const observer = new MutationObserver(() => {
  if (window.__doneMs === null && done()) {
    window.__doneMs = performance.now() - started;
    observer.disconnect();
  }
});
observer.observe(document.body,
  {subtree: true, childList: true, characterData: true, attributes: true});
"""


def _timed(driver, action, ready_js: str, timeout_s: float = 120) -> float:
    """Seconds from `action()` until the page has re-run and `ready_js` is true."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script(_WATCH_UNTIL, ready_js)
    action()
    done_ms = WebDriverWait(driver, timeout_s, poll_frequency=0.25).until(
        lambda d: d.execute_script("return window.__doneMs")
    )
    settle(driver)
    return float(done_ms) / 1000


def _text_on_page(text: str) -> str:
    return f"document.body.textContent.includes({text!r})"  # no layout, unlike innerText


def _legend_title(text: str) -> str:
    return (
        "[...document.querySelectorAll('.legendtitletext')]"
        f".some(e => e.textContent.includes({text!r}))"
    )


def _choose(driver, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (a react-aria combobox)."""
    _option(driver, label, option).click()


def _option(driver, label: str, option: str):
    """Open the selectbox labelled `label` and return its `option`, not yet clicked: a
    timing starts at the click, as a person's wait does, not at the driver's round trips
    that open the list (0.3–0.5 s here)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    opener = f"//input[@role='combobox'][@aria-label={label!r}]/following-sibling::button"
    WebDriverWait(driver, 60).until(ec.element_to_be_clickable((By.XPATH, opener))).click()
    wait_for(driver, '[role="option"]', 10)
    options = driver.find_elements(By.CSS_SELECTOR, '[role="option"]')
    return next(o for o in options if o.text.strip() == option)


def _button(driver, text: str):
    from selenium.webdriver.common.by import By

    return next(b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == text)


def _typed(driver, label: str, text: str):
    """Type `text` into the text input labelled `label`; returns the input, so that the
    Enter which submits it can be timed on its own."""
    from selenium.webdriver.common.by import By

    for box in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stTextInput"]'):
        if box.text.startswith(label):
            field = box.find_element(By.TAG_NAME, "input")
            field.send_keys(text)
            return field
    raise LookupError(f"no text input {label!r}")


def _type_and_enter(driver, label: str, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    _typed(driver, label, text).send_keys(Keys.ENTER)


MAP_DRAWN = (  # the map's own title is drawn: its empty frame (drawn first) has none
    "[...document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .gtitle')]"
    ".some(e => e.textContent.includes(' index · '))"
)


def page_timings(
    url: str, out_dir: Path, find: str = "cable", width: int = 1400
) -> dict[str, float]:
    """Seconds for what the Catalog and Embedding map pages promise, in one fresh browser
    session: the map's first open, a colour-by switch, a zoom into a box (a map drawn as
    a picture of every point only), and a sort, a next page and a filter over the whole
    catalog. Saves screenshots of each state for docs/."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    out_dir.mkdir(parents=True, exist_ok=True)
    driver = chrome(width=width, height=1500)
    timings: dict[str, float] = {}
    try:
        driver.get(url)
        wait_for(driver, PAGE_LINKS)
        settle(driver)
        timings["map_first_open_s"] = _timed(
            driver, lambda: _open_link(driver, "Embedding map"),
            f"{MAP_DRAWN} && {_text_on_page(' · UMAP ')}",
        )  # fmt: skip
        band = _option(driver, "Colour by", "price band")
        timings["map_colour_switch_s"] = _timed(driver, band.click, _legend_title("price band"))
        time.sleep(1.0)
        driver.save_screenshot(str(out_dir / "map-price-bands.png"))
        if driver.execute_script(f"return {_text_on_page('every point drawn as a picture')}"):
            timings["map_zoom_s"] = zoom_into_a_box(driver)
            driver.save_screenshot(str(out_dir / "map-zoomed.png"))
            _button(driver, "Whole map").click()
            settle(driver)
        _type_and_enter(driver, "Find on the map", find)
        settle(driver)
        time.sleep(1.0)
        driver.save_screenshot(str(out_dir / "map-find.png"))
        _open(driver, "Catalog")
        wait_for(driver, '[data-testid="stDataFrame"]', 60)
        settle(driver)
        sale_price = _option(driver, "Sort by", "Price")
        timings["catalog_sort_s"] = _timed(
            driver, sale_price.click, _text_on_page("sorted by price (low to high)")
        )
        timings["catalog_sort_descending_s"] = _timed(
            driver, _button(driver, "Descending").click,
            _text_on_page("sorted by price (high to low)"),
        )  # fmt: skip
        if not driver.execute_script(f"return {_text_on_page('Page (of 1)')}"):
            timings["catalog_next_page_s"] = _timed(
                driver, _step_up(driver, "Page").click, _text_on_page("Products 51–")
            )
        name_filter = _typed(driver, "Name contains", find)
        timings["catalog_filter_s"] = _timed(
            driver, lambda: name_filter.send_keys(Keys.ENTER), _text_on_page(" match.")
        )
        time.sleep(1.0)
        driver.save_screenshot(str(out_dir / "catalog-sorted-filtered.png"))
        driver.find_element(By.XPATH, "//*[@role='tab'][contains(., 'Summary charts')]").click()
        settle(driver)
        time.sleep(1.5)
        driver.save_screenshot(str(out_dir / "catalog-summary.png"))
        timings["map_reopen_s"] = _timed(
            driver, lambda: _open_link(driver, "Embedding map"),
            f"{MAP_DRAWN} && {_text_on_page(' · UMAP ')}",
        )  # fmt: skip
        if exceptions_on_page(driver):
            raise RuntimeError(f"exceptions on the page: {exceptions_on_page(driver)}")
        return {name: round(seconds, 3) for name, seconds in timings.items()}
    finally:
        driver.quit()


def _step_up(driver, label: str):
    """The + button of the number input labelled `label`."""
    from selenium.webdriver.common.by import By

    for box in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stNumberInput"]'):
        if box.text.startswith(label):
            return box.find_element(By.CSS_SELECTOR, '[data-testid="stNumberInputStepUp"]')
    raise LookupError(f"no number input {label!r}")


def zoom_into_a_box(driver) -> float:
    """On a map drawn as a picture: box-select the middle of the map, then time "Zoom
    into the box" until the zoomed map is drawn."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chart = driver.find_element(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"] .js-plotly-plot')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    chart.find_element(By.CSS_SELECTOR, '[data-title="Box Select"]').click()
    (ActionChains(driver).move_to_element_with_offset(chart, -90, -70).click_and_hold()
     .move_by_offset(60, 40).move_by_offset(60, 40).move_by_offset(60, 60).release()
     .perform())  # fmt: skip
    zoom_offered = ("return [...document.querySelectorAll('button')]"
                    ".some(b => b.textContent.trim() === 'Zoom into the box')")  # fmt: skip
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(zoom_offered))  # no stale nodes
    settle(driver)
    return _timed(driver, _button(driver, "Zoom into the box").click,
                  f"{MAP_DRAWN} && {_text_on_page('zoomed into a box')}")  # fmt: skip


def _open_link(driver, link_text: str) -> None:
    from selenium.webdriver.common.by import By

    next(
        link for link in driver.find_elements(By.CSS_SELECTOR, PAGE_LINKS)
        if link_text in link.text
    ).click()  # fmt: skip


if __name__ == "__main__":  # python -m tests.browser OUT_DIR "query" (uses the env's store)
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")
    with running_app({}) as app_url:
        print(
            search_and_capture(app_url, target, sys.argv[2] if len(sys.argv) > 2 else "hdmi cable")
        )


def side_by_side_seconds(
    url: str, other: str, out_dir: Path, open_s: float = 20, width: int = 1400
) -> float:
    """Seconds from choosing `other` in the Embedding map's "Side by side with" until both
    maps are drawn, in a fresh session whose page has been open `open_s` seconds."""
    from selenium.webdriver.common.by import By

    out_dir.mkdir(parents=True, exist_ok=True)
    driver = chrome(width=width, height=1200)
    try:
        open_map(driver, url)
        driver.find_element(By.XPATH, "//summary[contains(., 'More map settings')]").click()
        time.sleep(open_s)
        two_maps = (
            "[...document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .gtitle')]"
            ".filter(e => e.textContent.includes(' index · ')).length === 2"
        )
        seconds = _timed(driver, _option(driver, "Side by side with", other).click, two_maps)
        time.sleep(1.0)
        driver.save_screenshot(str(out_dir / "map-side-by-side.png"))
        if exceptions_on_page(driver):
            raise RuntimeError(f"exceptions on the page: {exceptions_on_page(driver)}")
        return round(seconds, 3)
    finally:
        driver.quit()


def page_load_seconds(url: str, runs: int = 3, same_browser: bool = False) -> list[float]:
    """Seconds from asking for the app's first page to its script having finished with the
    search box shown: each in a new browser session (the browser itself started first),
    or with `same_browser` as a returning visitor's browser (its cache holds the app's
    JavaScript)."""
    from selenium.webdriver.support.ui import WebDriverWait

    ready = (
        "const app = document.querySelector('[data-testid=\"stApp\"]');"
        "return !!app && app.getAttribute('data-test-script-state') === 'notRunning'"
        " && !!document.querySelector('[data-testid=\"stTextInput\"] input');"
    )
    seconds = []
    driver = chrome() if same_browser else None
    try:
        if driver is not None:  # a first visit fills the browser's cache
            driver.get(url)
            WebDriverWait(driver, 60).until(lambda d: d.execute_script(ready))
        for _ in range(runs):
            session = driver or chrome()
            try:
                if driver is not None:
                    session.get("about:blank")
                started = time.perf_counter()
                session.get(url)
                WebDriverWait(session, 60, poll_frequency=0.05).until(
                    lambda d: d.execute_script(ready)
                )
                seconds.append(round(time.perf_counter() - started, 3))
            finally:
                if driver is None:
                    session.quit()
    finally:
        if driver is not None:
            driver.quit()
    return seconds


def photo_query_seconds(url: str, image: Path, out_dir: Path, open_s: float = 20) -> float:
    """Seconds from pressing Search with an uploaded photo to its image matches being on
    the page, in a session whose page has been open `open_s` seconds."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chrome()
    try:
        driver.get(url)
        wait_for(driver, '[data-testid="stFileUploader"] input[type="file"]')
        settle(driver)
        time.sleep(open_s)
        driver.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(image))
        WebDriverWait(driver, 30).until(  # the uploaded file is listed by name
            lambda d: d.execute_script("return document.body.innerText.includes(arguments[0])",
                                       image.name)
        )  # fmt: skip
        submit = driver.find_element(
            By.CSS_SELECTOR, '[data-testid="stBaseButton-primaryFormSubmit"]'
        )
        seconds = _timed(driver, submit.click, _text_on_page("Image matches"))
        out_dir.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out_dir / "search-photo.png"))
        if exceptions_on_page(driver):
            raise RuntimeError(f"exceptions on the page: {exceptions_on_page(driver)}")
        return round(seconds, 3)
    finally:
        driver.quit()


# What a narrow window cuts off: text elided with "…" (labels, a select's value), buttons
# past the right edge, a sidebar wider than 240 px, a map title under the map's toolbar.
_LAYOUT_PROBLEMS = """
const problems = [];
const sidebar = document.querySelector('[data-testid="stSidebar"]');
if (sidebar && sidebar.getBoundingClientRect().width > 240)
  problems.push('sidebar ' + Math.round(sidebar.getBoundingClientRect().width) + ' px');
const main = document.querySelector('[data-testid="stMain"]') || document.body;
for (const el of main.querySelectorAll('label, p, span, input, button, div')) {
  const style = getComputedStyle(el);
  const text = (el.value || el.innerText || '').trim();
  if (!text || el.children.length > 1) continue;
  if (style.textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth + 1
      && !el.closest('[data-testid="stDataFrame"]'))
    problems.push('cut: ' + text.slice(0, 40));
}
for (const b of main.querySelectorAll('button')) {
  const box = b.getBoundingClientRect();
  if (box.width && box.right > window.innerWidth + 1)
    problems.push('past the edge: ' + (b.innerText || b.title).slice(0, 40));
}
for (const chart of document.querySelectorAll('.js-plotly-plot')) {
  const title = chart.querySelector('.gtitle'), bar = chart.querySelector('.modebar');
  if (!title || !bar) continue;
  const t = title.getBoundingClientRect(), m = bar.getBoundingClientRect();
  if (t.right > m.left && t.left < m.right && t.bottom > m.top && t.top < m.bottom)
    problems.push('map title under the toolbar');
}
return [...new Set(problems)];
"""


def _unfold(driver) -> None:
    """Open every folded expander of the page: what they hold is checked too."""
    from selenium.common.exceptions import ElementClickInterceptedException
    from selenium.webdriver.common.by import By

    main = '[data-testid="stMain"] details:not([open]) > summary'
    for summary in driver.find_elements(By.CSS_SELECTOR, main):
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
        try:
            summary.click()
        except ElementClickInterceptedException:
            # A neighbour still laying out after a rerun can sit over the summary for a
            # moment (CI saw a <code> caption there); the click the user would make is the
            # same event, sent to the summary itself.
            driver.execute_script("arguments[0].click()", summary)


def narrow_layout_problems(url: str, width: int = 800) -> dict[str, list[str]]:
    """Each page's layout problems at `width` px (see _LAYOUT_PROBLEMS), every expander
    open."""
    driver = chrome(width=width, height=1000)
    found: dict[str, list[str]] = {}
    try:
        driver.get(url)
        wait_for(driver, '[data-testid="stTextInput"] input')
        settle(driver)
        _unfold(driver)
        time.sleep(0.5)
        found["search"] = driver.execute_script(_LAYOUT_PROBLEMS)
        pages = (("Catalog", '[data-testid="stDataFrame"]'),
                 ("Embedding map", '[data-testid="stPlotlyChart"] .gtitle'))  # fmt: skip
        for page, ready in pages:
            _open(driver, page)
            wait_for(driver, ready, 120)
            settle(driver)
            _unfold(driver)
            time.sleep(1.0)
            found[page] = driver.execute_script(_LAYOUT_PROBLEMS)
    finally:
        driver.quit()
    return found
