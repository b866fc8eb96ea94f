"""riskflag: open-source early warning of homelessness for UK councils."""

__version__ = "0.1.0"
