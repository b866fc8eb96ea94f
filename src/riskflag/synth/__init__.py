"""The synthetic council: a simulated borough whose extracts look and misbehave like a real
council's, with a truth folder only evaluation reads. Imported only by the CLI and jobs."""

from riskflag.synth.run import synthesise

__all__ = ["synthesise"]
