"""The reminder IVR's spoken Russian prompts, synthesized on the machine with espeak-ng and sox.

Asterisk plays them as `dialer/<name>` from its Russian sounds folder. The visit's date and time come from
Asterisk's own Russian digit recordings (SayUnixTime); the doctor's name is a prompt of its own, named by a
hash so that the dialplan never sees a patient-facing name in a file name.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from dialer.core.errors import PeerFailed

# Short on purpose: a whole reminder call should last 10-12 s. Digits are words so espeak reads them evenly.
FIXED_PROMPTS: dict[str, str] = {
    "reminder-intro": "Здравствуйте! Напоминаем о вашей записи в клинику.",
    "reminder-menu": (
        "Чтобы подтвердить запись, нажмите один. Отменить — два. Связаться с администратором — три."
    ),
    "reminder-invalid": "Такой клавиши нет в меню.",
    "reminder-confirmed": "Спасибо, запись подтверждена. Ждём вас. До свидания.",
    "reminder-cancelled": "Запись отменена. Администратор перезвонит вам, чтобы подобрать другое время.",
    "reminder-connecting": "Соединяем с администратором.",
    "reminder-callback": "Администраторы сейчас заняты. Мы перезвоним вам в ближайшее время. До свидания.",
    "reminder-goodbye": "Ответ не получен. Чтобы изменить запись, позвоните в клинику. До свидания.",
    "inbound-greeting": "Здравствуйте! Вы позвонили в клинику. Соединяем с администратором.",
    "inbound-callback": "Все администраторы заняты. Мы перезвоним вам в течение пятнадцати минут. До свидания.",
    "callback-intro": "Здравствуйте! Вам перезванивает клиника. Соединяем с администратором.",
    "progressive-sorry": "Здравствуйте! Это клиника. Администратор перезвонит вам чуть позже. До свидания.",
    "followup-intro": "Здравствуйте! Клиника интересуется вашим самочувствием после приёма.",
    "followup-menu": "Если всё хорошо, нажмите один. Если хотите поговорить с нами, нажмите два.",
    "followup-thanks": "Спасибо! До свидания.",
    "survey-intro": "Здравствуйте! Клиника просит оценить ваш визит.",
    "survey-menu": "Нажмите цифру от одного до пяти: пять — отлично, один — плохо.",
    "survey-thanks": "Спасибо за оценку! До свидания.",
    # Left on a voicemail or said to a voice assistant: who called, the visit's date and time, the phone.
    "machine-intro": "Здравствуйте! Это",
    "machine-clinic": "клиника.",  # when the clinic's own name has no prompt yet
    "machine-visit": "Напоминаем о вашей записи",
    "machine-phone": "Телефон клиники:",
    "machine-bye": "До свидания.",
    # Said into the conversation as an administrator answers, when the clinic records and says so.
    "recording-notice": "Разговор может быть записан для контроля качества.",
}
PROMPT_FOLDER = "dialer"
VOICE = ("-v", "ru", "-s", "175")
# Asterisk's wav format is 8 kHz mono 16-bit. Trim espeak's lead-in and tail silence (every tenth of a
# second counts in a call that should last ten), keep a short tail, and make every prompt equally loud.
SOX_EFFECTS = (
    *("silence", "1", "0.02", "0.5%", "reverse") * 2,
    *("pad", "0", "0.15", "norm", "-3"),
)
# Bumped when the voice or the conversion changes, so existing files are re-made.
RECIPE = "espeak-ng " + " ".join(VOICE) + " | sox " + " ".join(SOX_EFFECTS) + " | v2"
TOOL_TIMEOUT = 60.0


class PromptError(PeerFailed):
    """A prompt could not be made; the message says what to install or fix."""


class PromptToolsMissing(PromptError):
    """espeak-ng or sox is not installed."""


def doctor_key(name: str) -> str:
    return hashlib.sha1(name.lower().strip().encode("utf-8")).hexdigest()[:12]


def doctor_prompt_name(name: str) -> str:
    """The sound the service passes as DIALER_DOCTOR_PROMPT, e.g. `dialer/doctor-3fa9c01b2e4d`."""
    return f"{PROMPT_FOLDER}/doctor-{doctor_key(name)}"


def clinic_prompt_name(name: str) -> str:
    """The sound of a clinic's name, as the service passes it in DIALER_CLINIC_PROMPT: `dialer/clinic-<hash>`."""
    return f"{PROMPT_FOLDER}/clinic-{doctor_key(name)}"


def doctor_text(name: str) -> str:
    return f"к врачу {' '.join(name.split())}"


def missing_tools() -> list[str]:
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


def _synthesize(text: str, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="dialer-prompt-") as tmp:
        raw = Path(tmp) / "raw.wav"
        steps = (
            ["espeak-ng", *VOICE, "-w", str(raw), text],
            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(Path(tmp) / "out.wav"), *SOX_EFFECTS],
        )
        for argv in steps:
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)
            except subprocess.TimeoutExpired as exc:
                raise PromptError(f"{argv[0]} took over {TOOL_TIMEOUT:.0f} s making {target.name}.") from exc
            if done.returncode != 0:
                raise PromptError(f"{argv[0]} failed making {target.name}: {done.stderr.strip()[:200]}")
        # Replace atomically so Asterisk never plays a half-written file.
        staged = target.with_suffix(".wav.tmp")
        shutil.copyfile(Path(tmp) / "out.wav", staged)
        staged.replace(target)


def _wanted(doctors: Iterable[str], clinics: Iterable[str]) -> dict[str, str]:
    wanted = dict(FIXED_PROMPTS)
    for name in doctors:
        if name.strip():
            wanted[f"doctor-{doctor_key(name)}"] = doctor_text(name)
    for name in clinics:
        if name.strip():
            wanted[f"clinic-{doctor_key(name)}"] = " ".join(name.split())
    return wanted


def build_prompts(out_dir: Path, doctors: Iterable[str] = (), clinics: Iterable[str] = ()) -> list[Path]:
    """Make the fixed prompts, one per doctor and one per clinic's name in `out_dir`; return every prompt's path.

    Idempotent: a prompt whose text and recipe are unchanged is not synthesized again.
    """
    wanted = _wanted(doctors, clinics)
    missing = missing_tools()
    if missing:
        raise PromptToolsMissing(
            f"{' and '.join(missing)} not installed; "
            "run `apt-get install espeak-ng sox` to make the IVR prompts."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, text in wanted.items():
        wav = out_dir / f"{name}.wav"
        stamp = out_dir / f"{name}.txt"
        expected = f"{RECIPE}\n{text}\n"
        if not (wav.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == expected):
            _synthesize(text, wav)
            stamp.write_text(expected, encoding="utf-8")
        paths.append(wav)
    return paths


def prompts_command(
    out_dir: Path | None,
    doctors: list[str],
    out: TextIO,
    *,
    sandbox_dir: Path | None,
    clinics: Iterable[str] = (),
) -> int:
    """`dialer prompts build`: make the prompts into `out_dir`, by default into the sandbox's Russian sounds
    folder (`sandbox_dir`, None where no sandbox is built)."""
    if out_dir is None:
        out_dir = sandbox_dir
        if out_dir is None:
            out.write(
                "error: no Asterisk sandbox here; give the folder Asterisk plays `dialer/…` sounds from "
                "(e.g. /usr/share/asterisk/sounds/ru/dialer).\n"
            )
            return 2
    try:
        paths = build_prompts(out_dir, doctors, clinics)
    except PromptError as exc:
        out.write(f"error: {exc}\n")
        return 1
    out.write(f"{len(paths)} prompts ready in {out_dir}\n")
    for name in doctors:
        if name.strip():
            # The name is the clinic's staff, not a patient, but it still stays out of the log line itself.
            out.write(f"  doctor prompt: {doctor_prompt_name(name)}\n")
    return 0
