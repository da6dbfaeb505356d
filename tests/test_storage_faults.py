"""The app and the CLI when the `s3://` store fails: the server stops, answers with errors
or answers slowly, then recovers. The store is the embedded sample on a real
S3-compatible server (moto), reached through tests/fault_proxy.py, which makes the
failures real HTTP failures for LanceDB's own client. Nothing is patched."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

import pytest

from core.store.database import REMOTE_REFRESH
from tests.app_session import AppSession, found_products, one_line_error, open_session, search_for
from tests.browser import running_app
from tests.conftest import SHOP_ROWS, store_env, write_shop_csv
from tests.fault_proxy import FaultProxy, fault_proxy
from tests.object_storage import BUCKET, S3Server

pytest.importorskip("moto", reason="make installs moto[server] with dev")


@pytest.fixture(scope="module")
def s3_copy(s3, embedded_sample) -> str:
    """The embedded sample's store, copied file by file into the bucket: a Lance table
    is the same files on a disk and in a bucket."""
    uri = s3.uri("faults")
    prefix = uri.removeprefix(f"s3://{BUCKET}/")
    client = s3.client()
    root = Path(embedded_sample.db_path)
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith(".write.lock"):
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(root)}")
    return uri


@pytest.fixture
def proxy(s3):
    with fault_proxy(s3.endpoint) as running:
        yield running


@pytest.fixture
def app_on_proxy(s3_copy, proxy, embedded_sample) -> Callable[..., ContextManager[AppSession]]:
    """Start a real app server on the S3 copy of the sample, reached through the proxy
    (with `extra` environment), and open a session on it. (A server, not AppTest: AppTest
    runs a page on its own after the first run, without the shell that guards it, which
    no browser ever sees.)"""

    @contextlib.contextmanager
    def serve(**extra: str) -> Iterator[AppSession]:
        env = {
            **store_env(embedded_sample), **S3Server(proxy.endpoint).env(s3_copy),
            "PRODUCTLENS_WARM_UP": "0", **extra,
        }  # fmt: skip
        with running_app(env, timeout_s=120) as url, open_session(url) as session:
            yield session

    return serve


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (lambda p: p.stop(), "is not answering"),
        pytest.param(
            lambda p: p.errors(503),
            "answers with errors (503 Service Unavailable)",
            marks=pytest.mark.slow,  # short twin: server-stops, and the messages below
        ),
    ],
    ids=["server-stops", "server-errors"],
)
def test_a_failing_store_is_one_line_and_the_app_recovers_without_restart(
    app_on_proxy, proxy: FaultProxy, fault, says
):
    with app_on_proxy() as session:
        assert found_products(search_for(session, "speaker wire cable"))
        fault(proxy)
        # Within REMOTE_REFRESH the app answers from what it read (nothing to fail);
        # after it, the next run asks the server for the tables' latest versions.
        time.sleep(REMOTE_REFRESH.total_seconds() + 0.5)
        message = one_line_error(search_for(session, "usb cable"))
        assert says in message and "s3://productlens/" in message
        proxy.normal()  # the store is back: the same server works, no restart
        again = session.run(widgets={"Try again": True})
        assert not again.exceptions and not again.errors
        assert found_products(search_for(session, "usb cable"))
        assert found_products(session.run(page="Catalog"))


@pytest.mark.slow  # its short twin: the server-stops case above (the same guard)
def test_a_slow_store_is_waited_for(app_on_proxy, proxy: FaultProxy):
    with app_on_proxy() as session:
        assert found_products(search_for(session, "speaker wire cable"))
        proxy.slow(0.2)  # every request a little late: the page still answers
        time.sleep(REMOTE_REFRESH.total_seconds() + 0.5)
        assert found_products(search_for(session, "usb cable"))


@pytest.mark.slow  # its short twin: the server-stops case above (the same guard)
def test_a_store_slower_than_the_timeout_is_one_line(app_on_proxy, proxy: FaultProxy):
    """Each request takes longer than the (lowered) timeout: bounded, then one line (the
    client words a timeout as it words a refused connection)."""
    with app_on_proxy(PRODUCTLENS_STORAGE_TIMEOUT="1s") as session:
        assert found_products(search_for(session, "speaker wire cable"))
        proxy.slow(3)
        time.sleep(REMOTE_REFRESH.total_seconds() + 0.5)
        assert "is not answering" in one_line_error(search_for(session, "usb cable"))
        proxy.normal()
        session.run(widgets={"Try again": True})
        assert found_products(search_for(session, "usb cable"))


def test_a_write_whose_commit_fails_stores_nothing_and_a_rerun_stores_all(
    s3, proxy: FaultProxy, tmp_path
):
    """The ingest's data files reach the bucket, its commit (the version manifest) does
    not: the catalog is as before, and the same command later stores every row once."""
    from core.store import Store
    from core.store_location import StorageOptions

    via = S3Server(proxy.endpoint)
    uri = via.uri("commit")
    first = _cli(via, uri, "ingest", str(write_shop_csv(tmp_path / "a.csv", 1)), "--catalog", "a")
    assert first.returncode == 0, first.stderr
    proxy.errors(503, only="/_versions/")
    failed = _cli(via, uri, "ingest", str(write_shop_csv(tmp_path / "b.csv", 80)), "--catalog", "b")
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: The store at s3://productlens/")
    assert "answers with errors (503" in failed.stderr and failed.stderr.count("\n") == 1
    assert proxy.data_writes > 0  # the rows were on their way: data files went up
    store = Store(uri, StorageOptions.of(s3.options))
    assert store.catalogs.names() == ["a"] and store.products.count("a") == len(SHOP_ROWS)
    assert store.products.count("b") == 0  # nothing of the failed ingest is visible
    proxy.normal()
    again = _cli(via, uri, "ingest", str(tmp_path / "b.csv"), "--catalog", "b")
    assert again.returncode == 0, again.stderr
    store = Store(uri, StorageOptions.of(s3.options))
    ids = store.products.where("b", columns=["product_id"]).column("product_id").to_pylist()
    assert len(ids) == len(set(ids)) == 80 * len(SHOP_ROWS)


def _cli(server: S3Server, uri: str, *args: str) -> subprocess.CompletedProcess:
    process = server.cli(uri, *args)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


# What LanceDB raised in these tests (and on a local store), verbatim but for the ports.
_RAISED = {
    "Runtime error: lance error: LanceError(IO): Generic S3 error: Error performing list "
    "request: Error performing GET http://127.0.0.1:41375/productlens?list-type=2&prefix="
    "f-76d081aa%2Fproducts.lance%2F_versions%2F in 342ms, after 3 retries, max_retries: 3, "
    "retry_timeout: 15s - Server returned non-2xx status code: 503 Service Unavailable: "
    "<?xml version=...": ("server-errors", "answers with errors (503 Service Unavailable)"),
    "Runtime error: lance error: LanceError(IO): Generic S3 error: Error performing list "
    "request: ... after 3 retries, max_retries: 3, retry_timeout: 15s - HTTP error: error "
    "sending request, /root/.cargo/registry/src/lance-io-13.0.0/src/object_store.rs:1506:92": (
        "unreachable", "is not answering"),
    "lance error: LanceError(IO): Generic LocalFileSystem error: failed to fill whole buffer, "
    "/rustc/2d81/library/core/src/ops/function.rs:250:5": ("damaged", "damaged or truncated"),
    "lance error: Not found: tmp/db/products.lance/_versions, /root/.cargo/registry/src/"
    "lance-table-13.0.0/src/io/commit.rs:653:26": ("missing", "`products` are missing"),
    "lance error: LanceError(IO): Generic LocalFileSystem error: Unable to copy data to file: "
    "No space left on device (os error 28), commit.rs:1663:50": ("full", "No space left"),
    "lance error: LanceError(IO): something new, /root/.cargo/registry/src/lance-io-13.0.0/"
    "src/object_store.rs:1506:92": ("io", "failed: lance error: LanceError(IO): something new"),
}  # fmt: skip


@pytest.mark.parametrize("raised", list(_RAISED))
def test_each_storage_error_reads_as_one_line_that_says_what_happened(raised):
    from core.store.faults import store_fault

    kind, says = _RAISED[raised]
    fault = store_fault(RuntimeError(raised), "s3://productlens/team")
    assert fault is not None and fault.kind == kind and says in fault.message
    assert ".rs:" not in fault.message and "s3://productlens/team" in fault.message
    # Not a storage failure: left alone, so a bug keeps its traceback.
    assert store_fault(RuntimeError("index 3 is out of bounds"), "db") is None
    assert store_fault(KeyError("lance error"), "db") is None
