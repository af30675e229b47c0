"""The configuration's error type."""


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""
