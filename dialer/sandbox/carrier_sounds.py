"""What the carrier's subscribers and machines say: Russian speech from espeak-ng and sox, made once per sandbox.

Each recording comes in a few variants (voice, speed, line noise) so that the people, voicemails and assistants
on the far end of the trunk do not all sound the same; the dialplan picks one by a digit of the number dialled.
Without the tools every recording is silence of about the same length, so the call flows still run.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from dialer.sandbox.sounds import SAMPLE_RATE, write_silence

TOOL_TIMEOUT = 60.0


@dataclass(frozen=True)
class Voice:
    espeak_voice: str
    words_per_minute: int
    noise: float  # white-noise amplitude mixed in: a clean line, a mobile, a bad mobile


VOICES = (Voice("ru+f3", 150, 0.004), Voice("ru+m3", 175, 0.012), Voice("ru+f5", 195, 0.025))

# name -> (its text, or one text per voice; the shortest each voice's recording may be, in seconds)
SPEECH: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "hello": (("Алло?",), ()),
    "listening": (("Да, слушаю.",), ()),
    "unavailable": (("Аппарат абонента выключен или находится вне зоны действия сети.",), ()),
    # A personal greeting, an operator's, a long personal one: speech all the way to the beep, as real
    # greetings are (a long pause inside one would sound like a person waiting for an answer).
    "voicemail": (
        (
            "Здравствуйте. Сейчас я не могу ответить на ваш звонок. "
            "Пожалуйста, оставьте сообщение после звукового сигнала.",
            "Абонент не может ответить на ваш звонок. Вы можете оставить голосовое сообщение, "
            "оно будет доставлено абоненту в виде эс-эм-эс. Говорите после сигнала.",
            "Добрый день! Вы позвонили мне, но я сейчас не могу взять трубку: я за рулём или на встрече. "
            "Оставьте, пожалуйста, сообщение с вашим именем и номером телефона, "
            "и я обязательно вам перезвоню, как только смогу. Спасибо!",
        ),
        # Speech of 7.5, 8.1 and 11.4 s, then a short pause before the beep: the set spans the 8-15 s
        # that real greetings take.
        (8.0, 10.0, 13.0),
    ),
    "assistant": (
        ("Здравствуйте, я голосовой помощник. Представьтесь, пожалуйста, и скажите, по какому вы вопросу.",),
        (),
    ),
}
# The answers `bench.amd` plays (dialer/sandbox/carrier_dialplan.py, the 7997 prefix): what people say when they
# pick up, and more greetings of voicemails and voice assistants, each text in every voice (`<name>-<text>-<voice>`).
ANSWERS: dict[str, tuple[str, ...]] = {
    "amd-person": (
        "Алло?",
        "Да.",
        "Алло, слушаю.",
        "Да, здравствуйте.",
        "Алло, здравствуйте, слушаю вас.",
    ),
    "amd-voicemail": (
        "Вы позвонили Ивану. Оставьте, пожалуйста, сообщение после сигнала.",
        "Здравствуйте, вы позвонили на автоответчик. Оставьте ваше сообщение после звукового сигнала, "
        "и вам обязательно перезвонят.",
        "Привет, это Марина. Не могу сейчас говорить, напиши мне или оставь сообщение после гудка.",
        "Абонент не отвечает. Оставьте голосовое сообщение после сигнала, абонент получит его текстом.",
    ),
    "amd-assistant": (
        "Алло, здравствуйте! Я Олег, голосовой помощник. Владелец номера сейчас не может ответить. "
        "Что ему передать?",
        "Здравствуйте! Я секретарь абонента. Скажите, пожалуйста, как вас зовут и по какому вы вопросу?",
        "Добрый день, это Алиса, помощник абонента. Расскажите, зачем вы звоните, и я всё передам.",
        "Здравствуйте, вы позвонили абоненту, он сейчас занят. Я его виртуальный помощник, слушаю вас.",
    ),
}
BEEP = "beep"
# An open line where nobody speaks: the voice's own noise, band-limited like the speech, for silent answers.
LINE = "line"
LINE_S = 30.0
RECIPE_FILE = ".recipe"
# The recordings' format, as Asterisk plays them, and a telephone line's band.
PCM = ("-r", SAMPLE_RATE, "-c", "1", "-b", "16")
PHONE_BAND = ("highpass", "300", "lowpass", "3400")
RECIPE = f"v4 {VOICES} {SPEECH} {ANSWERS} {LINE_S} {' '.join(PHONE_BAND)} norm -6"


def sound_names() -> list[str]:
    """Every file the carrier's dialplan plays, without the .wav."""
    per_voice = [*SPEECH, LINE]
    answers = [
        f"{name}-{t}-{n}"
        for name, texts in ANSWERS.items()
        for t in range(len(texts))
        for n in range(len(VOICES))
    ]
    return [f"{name}-{n}" for name in per_voice for n in range(len(VOICES))] + answers + [BEEP]


def _shortest_s(name: str, variant: int) -> float:
    shortest = SPEECH[name][1]
    return shortest[variant % len(shortest)] if shortest else 0.0


def _seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


def _sox(*args: str | Path | float) -> None:
    # -R: sox seeds its dither and noise from the clock otherwise, and every rebuild of the cache would differ.
    subprocess.run(["sox", "-R", *map(str, args)], check=True, capture_output=True, timeout=TOOL_TIMEOUT)


def _synth(out: Path, *effects: str | float) -> None:
    """A sound made from nothing (noise, a tone), in the recordings' format."""
    _sox("-n", *PCM, out, "synth", *effects)


def _speak(text: str, voice: Voice, shortest: float, out: Path, work: Path) -> None:
    raw, band, clean, noise = work / "raw.wav", work / "band.wav", work / "clean.wav", work / "noise.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice.espeak_voice, "-s", str(voice.words_per_minute), "-w", str(raw), text],
        check=True,
        capture_output=True,
        timeout=TOOL_TIMEOUT,
    )
    # A telephone line's band and level; then silence up to the shortest length the recording must have.
    _sox(raw, *PCM, band, *PHONE_BAND)
    _sox(band, clean, "norm", "-6", "pad", "0.1", f"{max(0.2, shortest - _seconds(band)):.2f}")
    _synth(noise, f"{_seconds(clean):.3f}", "whitenoise", "vol", voice.noise)
    _sox("-m", clean, noise, "-b", "16", out)


def _make_all(folder: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="carrier-sounds-") as tmp:
        work = Path(tmp)
        for n, voice in enumerate(VOICES):
            _synth(folder / f"{LINE}-{n}.wav", LINE_S, "pinknoise", "vol", voice.noise, *PHONE_BAND)
        for name, (texts, _shortest) in SPEECH.items():
            for n, voice in enumerate(VOICES):
                text = texts[n % len(texts)]
                _speak(text, voice, _shortest_s(name, n), folder / f"{name}-{n}.wav", work)
        for name, answers in ANSWERS.items():
            for t, text in enumerate(answers):
                for n, voice in enumerate(VOICES):
                    _speak(text, voice, 0.0, folder / f"{name}-{t}-{n}.wav", work)
        _synth(folder / f"{BEEP}.wav", "0.45", "sine", "1000", "vol", "0.5")


def _silent_all(folder: Path) -> None:
    for name in SPEECH:
        for n in range(len(VOICES)):
            write_silence(folder / f"{name}-{n}.wav", _shortest_s(name, n) or 2.0)
    for name, answers in ANSWERS.items():
        for t in range(len(answers)):
            for n in range(len(VOICES)):
                write_silence(folder / f"{name}-{t}-{n}.wav", 2.0)
    write_silence(folder / f"{BEEP}.wav", 0.45)
    for n in range(len(VOICES)):
        write_silence(folder / f"{LINE}-{n}.wav", LINE_S)


def install_carrier_sounds(folder: Path) -> list[str]:
    """Make the carrier's recordings in `folder` unless the same recipe made them already; return warnings."""
    stamp = hashlib.sha256(RECIPE.encode()).hexdigest()
    marker = folder / RECIPE_FILE
    done = marker.is_file() and marker.read_text(encoding="utf-8").strip() == stamp
    if done and all((folder / f"{n}.wav").is_file() for n in sound_names()):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        _silent_all(folder)
        return [
            f"{' and '.join(missing)} not installed: the carrier's subscribers are silent (run scripts/setup)."
        ]
    try:
        _make_all(folder)
    except (subprocess.SubprocessError, OSError) as exc:
        _silent_all(folder)
        return [f"Could not synthesize the carrier's speech ({exc}); its subscribers are silent for now."]
    marker.write_text(stamp + "\n", encoding="utf-8")
    return []
