"""The model as MLflow serves it: one pyfunc whose artefacts are the booster and calibration
files (imported only where MLflow is used: importing it costs seconds)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel

from riskflag.modeling.model import RiskModel


class PyfuncRisk(PythonModel):
    """predict() returns the raw score (rank by it) and the calibrated probability."""

    def load_context(self, context: Any) -> None:
        self.model = RiskModel.load(context.artifacts["booster"], context.artifacts["calibration"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.model.score(model_input)
