"""TLS: a real ``dask scheduler`` and ``dask worker`` speaking TLS with throw-away certificates,
and the embedded cluster on loopback only."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, Security

import flyte_dask as flyte

from .conftest import free_port

pytest.importorskip("cryptography")  # Security.temporary() makes its certificates with it

env = flyte.TaskEnvironment(name="tls")


@env.task
def square(x: int) -> int:
    return x * x


@pytest.fixture
def tls_cluster(tmp_path: Path, no_session: None) -> Iterator[tuple[str, Security]]:
    """A TLS scheduler and worker as real processes; the certificates as files, as an operator would have them."""
    security = Security.temporary()
    ca, cert, key = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.write_text(security.tls_ca_file)
    cert.write_text(security.tls_scheduler_cert)
    key.write_text(security.tls_scheduler_key)
    address = f"tls://127.0.0.1:{free_port()}"
    tls = ["--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
    logs = [open(tmp_path / f"{name}.log", "wb") for name in ("scheduler", "worker")]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                address.rsplit(":", 1)[1],
                "--protocol",
                "tls",
                "--no-dashboard",
                *tls,
            ],
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", address, "--nthreads", "2", "--no-dashboard", *tls],
            stdout=logs[1],
            stderr=subprocess.STDOUT,
        ),
    ]
    client_security = Security(
        tls_ca_file=str(ca), tls_client_cert=str(cert), tls_client_key=str(key), require_encryption=True
    )
    try:
        with Client(address, security=client_security, timeout=30, set_as_default=False) as probe:
            probe.wait_for_workers(1, timeout=60)
        yield address, client_security
    finally:
        flyte.shutdown()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
        for log in logs:
            log.close()


def test_init_with_security_runs_tasks_over_tls(tls_cluster: tuple[str, Security]) -> None:
    address, security = tls_cluster
    client = flyte.init(address, security=security)
    assert client.scheduler.address.startswith("tls://")
    assert square(7) == 49
    assert list(flyte.map(square, range(5))) == [0, 1, 4, 9, 16]


def test_tls_without_certificates_says_how_to_give_them(tls_cluster: tuple[str, Security]) -> None:
    address, _ = tls_cluster
    with pytest.raises(ConnectionError, match=r"speaks TLS, and no certificates were given: pass init\("):
        flyte.init(address)
    with pytest.raises(TypeError, match=r"distributed\.Security"):
        flyte.init(address, security="certs.pem")  # type: ignore[arg-type]


def test_embedded_cluster_listens_on_loopback_and_can_speak_tls(no_session: None) -> None:
    client = flyte.init(n_workers=1, security=True)
    try:
        info = client.scheduler_info()
        assert client.scheduler.address.startswith("tls://127.0.0.1:")
        assert all(address.startswith("tls://127.0.0.1:") for address in info["workers"])
        assert square(3) == 9
    finally:
        flyte.shutdown()
    client = flyte.init(n_workers=1)
    try:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert client.dashboard_link.startswith("http://127.0.0.1:")
    finally:
        flyte.shutdown()
