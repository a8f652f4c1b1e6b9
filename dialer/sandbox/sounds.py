"""The sandbox's IVR prompts: spoken ones when espeak-ng and sox are there, silence otherwise.

Silent placeholders keep the reminder dialplan runnable (and its tests meaningful) on a machine without the
speech tools; only what a person would hear is missing.
"""

from __future__ import annotations

import wave
from pathlib import Path

from dialer.prompts import FIXED_PROMPTS, PromptError, PromptToolsMissing, build_prompts

SAMPLE_RATE = 8000


def write_silence(path: Path, seconds: float) -> None:
    """An 8 kHz mono 16-bit WAV of silence, the format Asterisk's format_wav plays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(b"\0\0" * int(SAMPLE_RATE * seconds))


def install_fixed_prompts(prompts_dir: Path) -> list[str]:
    """Make sure every fixed prompt exists in `prompts_dir`; return warnings for a person to read."""
    warnings: list[str] = []
    # Queue hold music: the sandbox has no music package, and a class without files makes Queue() complain.
    moh = prompts_dir / "moh" / "silence.wav"
    if not moh.is_file():
        write_silence(moh, 2.0)
    try:
        build_prompts(prompts_dir)
    except PromptToolsMissing as exc:
        warnings.append(f"{exc} Using silent placeholders for now.")
    except PromptError as exc:
        warnings.append(f"{exc} Using silent placeholders where a prompt is missing.")
    for name in FIXED_PROMPTS:
        path = prompts_dir / f"{name}.wav"
        if not path.is_file():
            write_silence(path, 0.5)
    return warnings
