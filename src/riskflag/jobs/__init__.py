"""Jobs: the only modules that compose several stages (the nightly run, training, the linkage
replay, the demo, evaluation against a synthetic council's truth). Each takes a config and an
explicit as-of date and returns a typed result the CLI renders."""

from riskflag.jobs import demo, evaluation, nightly, replay, training

__all__ = ["demo", "evaluation", "nightly", "replay", "training"]
