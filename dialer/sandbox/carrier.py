"""The sandbox's carrier: a second Asterisk in the same chroot that plays the public telephone network.

It has its own config folder (`asterisk -C /etc/asterisk-carrier/asterisk.conf`), its own AMI port (for
tests only) and SIP port, and its own run, spool, log and database folders, so it shares nothing with the
clinic's Asterisk but the binary. The two are joined by a PJSIP trunk over UDP on loopback: the clinic's
side is the shipped config/asterisk/pjsip_trunk.conf.sample, this side is the `clinic` endpoint below.
"""

from __future__ import annotations

from dialer.sandbox import asterisk_conf, process
from dialer.sandbox.carrier_dialplan import CARRIER_CONTEXT, EXTENSIONS_CONF
from dialer.sandbox.carrier_sounds import install_carrier_sounds
from dialer.sandbox.layout import AMI_HOST, SandboxLayout
from dialer.sandbox.procs import CHROOT_ENV, asterisk_rx, run

CARRIER_USERNAME = "carrier"
# The endpoint's name in config/asterisk/pjsip_trunk.conf.sample, which the service dials as PJSIP/{number}@trunk.
CLINIC_TRUNK = "trunk"
# Its own of each folder Asterisk writes: two Asterisks on one control socket or astdb would trip each other.
CARRIER_DIRS = {
    "astvarlibdir": "/var/lib/asterisk-carrier",
    "astdbdir": "/var/lib/asterisk-carrier",
    "astkeydir": "/var/lib/asterisk-carrier",
    "astspooldir": "/var/spool/asterisk-carrier",
    "astrundir": "/var/run/asterisk-carrier",
    "astlogdir": "/var/log/asterisk-carrier",
}
CARRIER_MODULES = (
    "pbx_config",
    "app_playback",
    "app_senddtmf",
    "app_verbose",
    "func_logic",
    "func_strings",
    "func_math",
    "func_channel",
    "res_timing_timerfd",
    "codec_ulaw",
    "codec_alaw",
    "format_wav",
    "format_gsm",
    *asterisk_conf.PJSIP_MODULES,
)
RELOAD_COMMANDS = ("dialplan reload", "manager reload", "module reload res_pjsip.so")

MANAGER_CONF = (
    asterisk_conf.MANAGER_GENERAL
    + """
; For tests only: what the far end of a call did.
[{user}]
secret = {secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = system,call,originate,reporting
"""
)

CLINIC_ENDPOINT = """\
; The clinic's PBX as the carrier knows it: identified by address, RFC 4733 digits, qualified like the trunk.
[clinic]
type = endpoint
transport = transport-udp
context = {context}
disallow = all
allow = alaw,ulaw
dtmf_mode = rfc4733
aors = clinic
direct_media = no
rtp_symmetric = yes

[clinic]
type = aor
contact = sip:{host}:{clinic_port}
qualify_frequency = 30

[clinic]
type = identify
endpoint = clinic
match = {host}
"""


def _asterisk_conf(layout: SandboxLayout) -> str:
    text = asterisk_conf.ASTERISK_CONF.replace(
        "/usr/lib/x86_64-linux-gnu/asterisk/modules", asterisk_conf.machine_arch_modules_dir(layout.root)
    ).replace("astetcdir => /etc/asterisk", f"astetcdir => /{layout.carrier_etc.relative_to(layout.root)}")
    # `(!)` makes the section a template, which Asterisk skips: harmless while the clinic's folders are the
    # defaults, fatal for the carrier's, which must differ from them.
    text = text.replace("[directories](!)", "[directories]")
    # A real network keeps sending RTP while nobody speaks; without it the clinic's side hears no silence at all,
    # only a stopped stream, and cannot time a pause.
    text = text.replace("[options]\n", "[options]\ntransmit_silence = yes\n")
    for key, folder in CARRIER_DIRS.items():
        text = "\n".join(
            f"{key} => {folder}" if line.startswith(f"{key} =>") else line for line in text.splitlines()
        )
    return text + "\n"


def render(layout: SandboxLayout, secret: str) -> dict[str, str]:
    """Every file of the carrier's /etc/asterisk-carrier, by name."""
    endpoint = CLINIC_ENDPOINT.format(
        context=CARRIER_CONTEXT, host=AMI_HOST, clinic_port=layout.clinic_sip_port
    )
    files = {
        "asterisk.conf": _asterisk_conf(layout),
        "modules.conf": asterisk_conf.modules_conf(CARRIER_MODULES),
        "logger.conf": asterisk_conf.LOGGER_CONF,
        "manager.conf": MANAGER_CONF.format(
            host=AMI_HOST, port=layout.carrier_ami_port, user=CARRIER_USERNAME, secret=secret
        ),
        "pjsip.conf": asterisk_conf.PJSIP_CONF.format(
            agent="dialer-sandbox-carrier", host=AMI_HOST, port=layout.carrier_sip_port, trunk=endpoint
        ),
        "rtp.conf": asterisk_conf.RTP_CONF.format(start=15000, end=19998),
        "extensions.conf": EXTENSIONS_CONF,
        "indications.conf": asterisk_conf.INDICATIONS_CONF,
        "cdr.conf": "[general]\nenable = no\n",
    }
    for name in asterisk_conf.QUIET_FILES:
        files.setdefault(name, "")
    return files


def _make_dirs(layout: SandboxLayout) -> None:
    # Through the chroot's shell: /var/run there is a symlink to /run that must not resolve on the host.
    folders = " ".join(sorted(set(CARRIER_DIRS.values())))
    run(
        ["chroot", layout.root, "/bin/sh", "-c", f"mkdir -p {folders}"],
        timeout=30,
        what="making the carrier's folders in the chroot",
        fix="run `dialer sandbox rebuild`.",
        env=CHROOT_ENV,
    )


def carrier_up(layout: SandboxLayout, secret: str) -> list[str]:
    """Install the carrier's config and sounds, then start it, reload it or restart it as its config needs.

    Returns warnings for a person to read.
    """
    instance = layout.carrier
    files = render(layout, secret)
    running = bool(process.asterisk_pids(instance))
    _make_dirs(layout)
    restart = asterisk_conf.install_dir(layout.carrier_etc, files, secret_files=("manager.conf",)) and running
    warnings = install_carrier_sounds(layout.carrier_sounds)
    if running and not restart:
        for command in RELOAD_COMMANDS:
            asterisk_rx(instance, command)
    else:
        if restart:
            process.stop(instance)
        process.start(instance, secret, CARRIER_USERNAME)
    # Asterisk spreads its first OPTIONS over up to qualify_frequency seconds; ask both ends now, so that a
    # trunk that works is shown Avail within a second of `up`.
    asterisk_rx(layout.clinic, f"pjsip qualify {CLINIC_TRUNK}")
    asterisk_rx(instance, "pjsip qualify clinic")
    return warnings
