"""The service's settings: read from the environment (and ``exporter serve``'s flags) once,
at the entry point, then passed in. ``settings`` says what each variable means and checks
it; ``reader`` is the small typed reader that names the variable in every error."""

from .reader import ConfigError, Entry
from .settings import FLAGS, Settings, WebhookSettings, load, thresholds_from_env

__all__ = [
    "FLAGS",
    "ConfigError",
    "Entry",
    "Settings",
    "WebhookSettings",
    "load",
    "thresholds_from_env",
]
