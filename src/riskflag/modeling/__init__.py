"""The household-risk model: training, calibration, evaluation, fairness, drift references, the
registry and its promotion gates. Public interface: the names below; the training job that puts
them in order is riskflag.jobs.training."""

from riskflag.modeling import card, drift, fairness, plots, registry
from riskflag.modeling.evaluate import select_at_capacity
from riskflag.modeling.model import BOOSTER, CALIBRATION, RiskModel, sigmoid
from riskflag.modeling.oracle import evaluate_against_truth
from riskflag.modeling.registry import Logged, code_version, config_hash, promote
from riskflag.modeling.train import Trained, train, training_dates

__all__ = [
    "BOOSTER", "CALIBRATION", "Logged", "RiskModel", "Trained", "card", "code_version", "config_hash",
    "drift", "evaluate_against_truth", "fairness", "plots", "promote", "registry", "select_at_capacity",
    "sigmoid", "train", "training_dates",
]  # fmt: skip
