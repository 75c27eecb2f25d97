"""User-facing errors: each message says what is wrong and what to do."""


class SSAEError(Exception):
    """An error caused by input or environment, shown to the user as one message."""


class ConfigError(SSAEError):
    """A config value or file that cannot be used."""


class WorkspaceError(SSAEError):
    """The workspace cannot be used (not writable, corrupted artifact, ...)."""


class LoadError(SSAEError):
    """A model or SAE could not be loaded from the source asked for."""
