"""SMS gateways behind the engine's SmsGateway port: Twilio (official SDK) and SMS Aero (Russian, plain HTTP).

`build_gateway` picks the configured one; `build_verifiers` gives the web layer what it needs to accept
genuine delivery reports; `status_callback_url` says where each message's reports should go.
"""

from dialer.sms.factory import build_gateway, build_verifiers, status_callback_path, status_callback_url
from dialer.sms.smsaero import SmsAeroGateway, SmsAeroStatusVerifier
from dialer.sms.twilio import TwilioGateway, TwilioStatusVerifier

__all__ = [
    "SmsAeroGateway",
    "SmsAeroStatusVerifier",
    "TwilioGateway",
    "TwilioStatusVerifier",
    "build_gateway",
    "build_verifiers",
    "status_callback_path",
    "status_callback_url",
]
