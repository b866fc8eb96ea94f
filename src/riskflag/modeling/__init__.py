"""The household-risk model: training, calibration, evaluation, fairness, drift references, the
registry and its promotion gates. Public interface: the names below."""

from riskflag.modeling import drift, registry
from riskflag.modeling.model import BOOSTER, CALIBRATION, RiskModel
from riskflag.modeling.oracle import evaluate_against_truth
from riskflag.modeling.pipeline import train_and_register
from riskflag.modeling.registry import code_version, config_hash, promote
from riskflag.modeling.train import training_dates

__all__ = [
    "BOOSTER", "CALIBRATION", "RiskModel", "code_version", "config_hash", "drift", "evaluate_against_truth",
    "promote", "registry", "train_and_register", "training_dates",
]  # fmt: skip
