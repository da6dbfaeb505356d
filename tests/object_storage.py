"""A real S3-compatible server (moto in server mode) on 127.0.0.1, for the object-storage
tests: each test gets its own store prefix in one bucket."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.browser import ROOT, free_port, serving

BUCKET = "productlens"
# Distinctive values so a test can prove they never reach any output.
ACCESS_KEY = "AKIAPRODUCTLENSTEST1"
SECRET_KEY = "s3cr3t-Never-Printed-7f3a9c"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def uri(self, name: str) -> str:
        return f"s3://{BUCKET}/{name}-{uuid.uuid4().hex[:8]}"

    @property
    def options(self) -> dict[str, str]:
        """LanceDB storage options for this server."""
        return {
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_endpoint": self.endpoint,
            "aws_region": "us-east-1",
            "allow_http": "true",
        }

    def env(self, uri: str) -> dict[str, str]:
        """The environment that points ProductLens (app or CLI) at the store `uri`."""
        variables = {f"PRODUCTLENS_STORAGE_{k.upper()}": v for k, v in self.options.items()}
        return {**variables, "PRODUCTLENS_DB": uri}

    def client(self) -> Any:
        """A boto3 S3 client of this server, to see or place objects behind LanceDB."""
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
        )  # fmt: skip

    def keys(self, uri: str) -> list[str]:
        """Every object under a store's prefix, read back with boto3."""
        prefix = uri.removeprefix(f"s3://{BUCKET}/") + "/"
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def cli(self, uri: str, *args: str, cwd: Path = ROOT) -> subprocess.Popen:
        """`productlens ARGS` on the store `uri`, this server's options in the environment."""
        return run_cli({**os.environ, **self.env(uri), "HF_HUB_OFFLINE": "1"}, cwd, *args)


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "core.cli", *args]
    return subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@contextlib.contextmanager
def s3_server(log_dir: Path) -> Iterator[S3Server]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with open(log_dir / "moto.log", "wb") as log_file:
        server = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            with serving(server, f"{endpoint}/moto-api/data.json", timeout_s=60):
                s3 = S3Server(endpoint)
                s3.client().create_bucket(Bucket=BUCKET)
                yield s3
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
