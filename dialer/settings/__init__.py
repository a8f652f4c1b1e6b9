"""One typed Settings object, read from a TOML file and a few environment variables.

Unknown keys are an error, so a typo never silently falls back to a default. Secrets mask their repr.
"""

from dialer.settings.load import ENV_OVERRIDES, load_settings
from dialer.settings.model import (
    CUSTOMER_PLAN,
    SAME_DAY_PLAN,
    AlertSettings,
    AmiSettings,
    ClinicSettings,
    InboundSettings,
    IvrCampaignSettings,
    KosSettings,
    RehearsalSettings,
    ReminderSettings,
    RetentionSettings,
    Secret,
    ServiceSettings,
    Settings,
    SmsAeroSettings,
    SmsSettings,
    TrunkSettings,
    TwilioSettings,
    WaitingListSettings,
    WebhookSettings,
)
from dialer.settings.parse import parse_settings

__all__ = [
    "CUSTOMER_PLAN",
    "ENV_OVERRIDES",
    "SAME_DAY_PLAN",
    "AlertSettings",
    "AmiSettings",
    "ClinicSettings",
    "InboundSettings",
    "IvrCampaignSettings",
    "KosSettings",
    "RehearsalSettings",
    "ReminderSettings",
    "RetentionSettings",
    "Secret",
    "ServiceSettings",
    "Settings",
    "SmsAeroSettings",
    "SmsSettings",
    "TrunkSettings",
    "TwilioSettings",
    "WaitingListSettings",
    "WebhookSettings",
    "load_settings",
    "parse_settings",
]
