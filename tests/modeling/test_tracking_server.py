"""A real `mlflow server` on loopback: a small model trained against it, promoted, and loaded
back as models:/<name>@champion through the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date

import numpy as np
import pytest

from riskflag.modeling import registry
from tests.conftest import SMALL_COUNCIL_GATES

AS_OF = date(2026, 10, 31)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("server")
    port = _free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--workers", "1"]
    command += ["--artifacts-destination", str(root / "artifacts")]
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("mlflow server exited at start")
            time.sleep(0.5)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
        pytest.fail("mlflow server did not answer within a minute")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_train_promote_and_load_through_a_server(server: str, validated_2k) -> None:
    from riskflag.jobs.training import train_and_register
    from riskflag.linkage.pipeline import link_council, train_council

    cfg, _, _ = validated_2k
    train_council(cfg, AS_OF)
    link_council(cfg, AS_OF)
    cfg = cfg.model_copy(
        update={
            "model": cfg.model.model_copy(
                update={
                    "tracking_uri": server,
                    "max_as_of_dates": 14,
                    "registered_name": "riskflag-server-test",
                    # the gates are tested in test_model.py; here only the round trip matters
                    "gates": cfg.model.gates.model_copy(update=SMALL_COUNCIL_GATES),
                }
            )
        }
    )
    run = train_and_register(cfg, AS_OF)
    assert registry.promote(cfg, run.logged.version, AS_OF).promoted
    import mlflow

    assert mlflow.get_tracking_uri() == server
    champion = mlflow.pyfunc.load_model("models:/riskflag-server-test@champion")
    frame = run.trained.frame.head(25)
    assert np.allclose(champion.predict(frame)["raw_score"], run.trained.scores["model"].raw[:25])
