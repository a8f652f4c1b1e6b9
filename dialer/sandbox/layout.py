"""Where the Asterisk sandbox lives on disk, and where the project's Asterisk config pieces come from.

The sandbox is a Debian sid chroot with Asterisk 22 in it, kept in a cache folder outside the repository so
that one build serves every checkout and test run on the machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dialer
from dialer.core.errors import PeerFailed

ENV_DIR = "DIALER_SANDBOX_DIR"
ENV_PORT = "DIALER_SANDBOX_AMI_PORT"
ENV_CONFIG_DIR = "DIALER_ASTERISK_CONFIG_DIR"
ENV_MIRROR = "DIALER_SANDBOX_MIRROR"

AMI_HOST = "127.0.0.1"
DEFAULT_AMI_PORT = 5038
AMI_USERNAME = "dialer"
# The carrier's own ports sit at fixed offsets from the clinic's AMI port, so that every sandbox on a machine
# (each with its own DIALER_SANDBOX_AMI_PORT) gets its own carrier without a second setting to keep apart.
CARRIER_AMI_OFFSET = 1
CLINIC_SIP_OFFSET = 1000
CARRIER_SIP_OFFSET = 1001
# The carrier runs from the same chroot and binary, with its own config folder, named by `asterisk -C`.
CARRIER_ETC = Path("etc/asterisk-carrier")
# What the chroot's Asterisk sees as its sounds folder for language "ru".
CHROOT_SOUNDS_RU = Path("usr/share/asterisk/sounds/ru")


class SandboxError(PeerFailed):
    """The sandbox cannot do what was asked. The message says, in one sentence, what to do about it."""


def default_sandbox_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "dialer" / "asterisk-sandbox"


def repo_config_dir() -> Path:
    """The project's `config/` folder: next to the package in a source tree, or where the env var points."""
    override = os.environ.get(ENV_CONFIG_DIR)
    if override:
        return Path(override)
    return Path(dialer.__file__).resolve().parents[1] / "config"


def repo_tests_asterisk_dir(config_dir: Path) -> Path:
    """Test-only Asterisk config (simulated patients), present in a source tree and absent in an install."""
    return config_dir.parent / "tests" / "asterisk"


def ami_port_from_env() -> int:
    raw = os.environ.get(ENV_PORT, "")
    if not raw:
        return DEFAULT_AMI_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SandboxError(f"{ENV_PORT}={raw!r} is not a TCP port; set it to a number between 1 and 65535.")
    return int(raw)


@dataclass(frozen=True)
class AsteriskInstance:
    """One Asterisk process in the chroot: the clinic's (default config) or the carrier's (`-C conf`)."""

    name: str
    root: Path
    ami_port: int
    pid_file: Path
    log_file: Path
    conf: str | None = None  # asterisk.conf inside the chroot, None for the packaged default

    def asterisk_argv(self, *args: str) -> list[str]:
        """`asterisk ARGS` for this instance, run inside the chroot."""
        config = ["-C", self.conf] if self.conf else []
        return ["chroot", str(self.root), "/usr/sbin/asterisk", *config, *args]


@dataclass(frozen=True)
class SandboxLayout:
    """Every path the sandbox reads or writes. `root` is the chroot; the rest are bookkeeping beside it."""

    base: Path
    config_dir: Path
    ami_port: int = DEFAULT_AMI_PORT

    @classmethod
    def from_env(cls) -> SandboxLayout:
        raw = os.environ.get(ENV_DIR)
        base = Path(raw) if raw else default_sandbox_dir()
        return cls(base=base.absolute(), config_dir=repo_config_dir(), ami_port=ami_port_from_env())

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def marker(self) -> Path:
        # Inside the chroot, so that removing a half-built root also removes the claim that it is built.
        return self.root / ".dialer-sandbox-built"

    @property
    def lock_file(self) -> Path:
        return self.base / "sandbox.lock"

    @property
    def pid_file(self) -> Path:
        return self.base / "asterisk.pid"

    @property
    def log_file(self) -> Path:
        return self.base / "asterisk.log"

    @property
    def build_log(self) -> Path:
        return self.base / "build.log"

    @property
    def secret_file(self) -> Path:
        return self.base / "ami-secret"

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "asterisk"

    @property
    def sounds_ru(self) -> Path:
        return self.root / CHROOT_SOUNDS_RU

    @property
    def prompts_dir(self) -> Path:
        return self.sounds_ru / "dialer"

    @property
    def tests_asterisk_dir(self) -> Path:
        return repo_tests_asterisk_dir(self.config_dir)

    @property
    def carrier_ami_port(self) -> int:
        return self.ami_port + CARRIER_AMI_OFFSET

    @property
    def clinic_sip_port(self) -> int:
        return self.ami_port + CLINIC_SIP_OFFSET

    @property
    def carrier_sip_port(self) -> int:
        return self.ami_port + CARRIER_SIP_OFFSET

    @property
    def carrier_etc(self) -> Path:
        return self.root / CARRIER_ETC

    @property
    def carrier_sounds(self) -> Path:
        return self.sounds_ru / "carrier"

    @property
    def clinic(self) -> AsteriskInstance:
        return AsteriskInstance("clinic", self.root, self.ami_port, self.pid_file, self.log_file)

    @property
    def carrier(self) -> AsteriskInstance:
        return AsteriskInstance(
            "carrier",
            self.root,
            self.carrier_ami_port,
            self.base / "carrier.pid",
            self.base / "carrier.log",
            conf="/" + str(CARRIER_ETC / "asterisk.conf"),
        )
