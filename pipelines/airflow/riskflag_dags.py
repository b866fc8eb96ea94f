"""Airflow DAGs running the same stages as pipelines/nightly.sh and pipelines/train.sh.

Each task is one `riskflag` command, so Airflow only schedules and retries; the stages, their
checks and their outputs are riskflag's. The nightly DAG splits the run into validate and link
(each a no-op when repeated on the same as-of date) and the scoring run, so that an operator
sees in Airflow which stage stopped. Copy this file into the DAGs folder and set the Airflow
Variables riskflag_bin and riskflag_config.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from airflow import DAG
from airflow.models import Variable
from airflow.operators.bash import BashOperator

RISKFLAG = Variable.get("riskflag_bin", default_var="riskflag")
CONFIG = Variable.get("riskflag_config", default_var="/etc/riskflag/council.yaml")
ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
AS_OF = "{{ ds }}"  # the run's logical date: a backfill scores each past date as it was


def _cmd(args: str) -> str:
    return f"{RISKFLAG} {args} --config {CONFIG}"


with DAG(
    dag_id="riskflag_nightly",
    start_date=datetime(2026, 1, 1),
    schedule="30 2 * * *",
    catchup=False,
    max_active_runs=1,  # riskflag's own lock refuses a second run as well
    default_args={"retries": 1, "retry_delay": timedelta(minutes=15)},
    tags=["riskflag"],
) as nightly:
    validate = BashOperator(task_id="validate", bash_command=_cmd(f"validate --as-of {AS_OF}"), env=ENV)
    link = BashOperator(task_id="link", bash_command=_cmd(f"link run --as-of {AS_OF}"), env=ENV)
    score = BashOperator(
        task_id="score_explain_publish", bash_command=_cmd(f"nightly --as-of {AS_OF}"), env=ENV
    )
    validate >> link >> score

with DAG(
    dag_id="riskflag_train",
    start_date=datetime(2026, 1, 1),
    schedule="0 20 2 * *",
    catchup=False,
    max_active_runs=1,
    tags=["riskflag"],
) as training:
    steps = [
        BashOperator(task_id="validate", bash_command=_cmd(f"validate --as-of {AS_OF}"), env=ENV),
        BashOperator(task_id="link_train", bash_command=_cmd(f"link train --as-of {AS_OF}"), env=ENV),
        BashOperator(task_id="link_full", bash_command=_cmd(f"link run --full --as-of {AS_OF}"), env=ENV),
        BashOperator(task_id="train", bash_command=_cmd(f"train --as-of {AS_OF}"), env=ENV),
        BashOperator(task_id="promote", bash_command=_cmd("promote"), env=ENV),
    ]
    for a, b in itertools.pairwise(steps):
        a >> b
