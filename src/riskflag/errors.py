"""Errors a user can cause. The CLI prints their message on one line and exits non-zero."""


class UserError(Exception):
    """Something the user can fix: a path, a config value, an argument."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration file that does not say what riskflag needs."""
