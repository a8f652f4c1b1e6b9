"""The carrier's config as generated for the sandbox: its ports, its own folders, the trunk both ways, and that
every recording its dialplan plays is one the sandbox makes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialer.sandbox import asterisk_conf, carrier
from dialer.sandbox.carrier_dialplan import ANSWER_KINDS, ANSWER_PREFIX, EXTENSIONS_CONF, OUTCOMES
from dialer.sandbox.carrier_sounds import ANSWERS, VOICES, sound_names
from dialer.sandbox.layout import SandboxError, SandboxLayout, repo_config_dir
from dialer.sandbox.process import config_of


def _layout(tmp_path: Path, port: int = 5068) -> SandboxLayout:
    return SandboxLayout(base=tmp_path, config_dir=repo_config_dir(), ami_port=port)


def test_each_sandbox_gets_its_own_carrier_ports(tmp_path: Path) -> None:
    one, other = _layout(tmp_path, 5068), _layout(tmp_path, 5078)
    ports = [
        p
        for layout in (one, other)
        for p in (layout.ami_port, layout.carrier_ami_port, layout.clinic_sip_port, layout.carrier_sip_port)
    ]
    assert len(set(ports)) == len(ports)
    files = carrier.render(one, "s3cret")
    assert "port = 5069" in files["manager.conf"]
    assert "bind = 127.0.0.1:6069" in files["pjsip.conf"]
    assert "contact = sip:127.0.0.1:6068" in files["pjsip.conf"]


def test_the_clinic_runs_the_shipped_trunk_sample_pointed_at_the_carrier(tmp_path: Path) -> None:
    files = asterisk_conf.render(_layout(tmp_path), "s3cret")
    trunk = files["pjsip_trunk.conf"]
    assert "contact = sip:127.0.0.1:6069" in trunk
    assert "sip.carrier.example" not in trunk
    assert "dtmf_mode = rfc4733" in trunk
    assert '#include "pjsip_trunk.conf"' in files["pjsip.conf"]
    assert "bind = 127.0.0.1:6068" in files["pjsip.conf"]
    assert "load => chan_pjsip.so" in files["modules.conf"]


def test_a_trunk_sample_without_the_placeholder_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "asterisk").mkdir(parents=True)
    (config / "asterisk" / asterisk_conf.TRUNK_SAMPLE).write_text("[trunk]\ntype = aor\n", encoding="utf-8")
    layout = SandboxLayout(base=tmp_path, config_dir=config, ami_port=5068)
    with pytest.raises(SandboxError, match=r"sip\.carrier\.example"):
        asterisk_conf.sandbox_trunk(layout)


def test_the_carrier_writes_only_to_its_own_folders(tmp_path: Path) -> None:
    conf = carrier.render(_layout(tmp_path), "s3cret")["asterisk.conf"]
    # A template section would be skipped, and the carrier would take the clinic's control socket.
    assert "[directories]\n" in conf and "(!)" not in conf
    for key in ("astetcdir", "astrundir", "astdbdir", "astspooldir", "astlogdir", "astvarlibdir"):
        value = re.search(rf"^{key} => (\S+)$", conf, re.MULTILINE)
        assert value is not None and value.group(1).endswith("asterisk-carrier"), key


def test_the_two_asterisks_are_told_apart_by_their_config() -> None:
    layout = _layout(Path("/nonexistent"))
    assert layout.clinic.conf is None
    assert config_of([b"/usr/sbin/asterisk", b"-f"]) is None
    argv = [a.encode() for a in layout.carrier.asterisk_argv("-f")[2:]]
    assert config_of(argv) == layout.carrier.conf == "/etc/asterisk-carrier/asterisk.conf"


def test_every_recording_the_carrier_plays_is_made() -> None:
    played = set(re.findall(r"carrier/(?!amd-)([a-z]+)(-\$\{VOICE\})?", EXTENSIONS_CONF))
    assert played
    made = set(sound_names())
    for name, per_voice in played:
        wanted = [f"{name}-{n}" for n in range(len(VOICES))] if per_voice else [name]
        assert set(wanted) <= made, name


def test_every_answer_of_the_amd_bench_is_made_in_every_voice_and_played() -> None:
    made = set(sound_names())
    for name, texts in ANSWERS.items():
        assert f"carrier/{name}-${{TEXT}}-${{VOICE}}" in EXTENSIONS_CONF, name
        assert {f"{name}-{t}-{v}" for t in range(len(texts)) for v in range(len(VOICES))} <= made, name
    for kind in ANSWER_KINDS:
        assert f"exten => answer-{kind}," in EXTENSIONS_CONF


def test_the_answers_prefix_leaves_every_other_number_to_its_last_digit() -> None:
    # 7997 is more specific than _XXX. for 11 digits only; the existing patients' numbers never start with it.
    assert f"exten => _{ANSWER_PREFIX}XXXXXXX,1," in EXTENSIONS_CONF
    assert "exten => _XXX.,1,NoOp(carrier: outcome ${EXTEN:-1})" in EXTENSIONS_CONF


def test_every_last_digit_has_an_outcome() -> None:
    assert sorted(OUTCOMES) == [str(d) for d in range(10)]
    for digit in OUTCOMES:
        assert f"exten => outcome-{digit}," in EXTENSIONS_CONF
