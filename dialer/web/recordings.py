"""A conversation's recording, played or downloaded from the browser: byte ranges for seeking, only for the
clinic's supervisors (and an administrator for their own calls, where the clinic allows it), every play and
download written to the audit log."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from dialer.core.quality_ports import Recording
from dialer.core.staff import Role, UserRow
from dialer.web.access import Scope, add_route, allow
from dialer.web.audit import RECORDING_DOWNLOAD, RECORDING_PLAY, record
from dialer.web.auth import user_of
from dialer.web.params import path_id
from dialer.web.quality import QUALITY

CONTENT_TYPES = {
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".gsm": "audio/x-gsm",
}


def may_hear(user: UserRow, recording: Recording, operators_hear_own: bool) -> bool:
    if not user.holds(recording.clinic_id):
        return False
    if user.role in (Role.SUPERVISOR, Role.ADMIN):
        return True
    return operators_hear_own and recording.user_id is not None and recording.user_id == user.user_id


def file_of(folder: Path, recording: Recording) -> Path | None:
    """The recording's file, only if it lies inside the recordings folder and is there."""
    if not recording.file_name:
        return None
    root = folder.resolve()
    path = (root / recording.file_name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def _first_bytes(request: web.Request) -> bool:
    """A play starts from the first byte; the browser's later range requests while seeking are the same play."""
    ranges = request.headers.get("Range", "").replace(" ", "")
    return not ranges or ranges.startswith("bytes=0-")


async def get_recording(request: web.Request) -> web.StreamResponse:
    ctx = request.app[QUALITY]
    recording_id = path_id(request, "recording_id", "такой записи")
    found = await ctx.calls.recording(recording_id)
    clinic = ctx.settings.clinics.get(found.clinic_id) if found is not None else None
    user = user_of(request)
    if found is None or clinic is None or not may_hear(user, found, clinic.quality.operators_hear_own):
        raise web.HTTPNotFound(text="Такой записи нет")
    path = file_of(ctx.recordings_dir, found)
    if path is None:
        raise web.HTTPNotFound(text="Файла записи нет: он ещё сохраняется или удалён по сроку хранения")
    download = request.query.get("download", "") == "1"
    if download or (request.method == "GET" and _first_bytes(request)):
        action = RECORDING_DOWNLOAD if download else RECORDING_PLAY
        await record(
            request, action, clinic.id, {"recording_id": found.recording_id, "call_ref": found.call_ref}
        )
    headers = {
        "Content-Type": CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        "Cache-Control": "private, no-store",
    }
    if download:
        headers["Content-Disposition"] = f'attachment; filename="recording-{found.recording_id}{path.suffix}"'
    return web.FileResponse(path, headers=headers)


def add_routes(app: web.Application) -> None:
    # An operator passes the rule; the recording itself decides (their own call, where the clinic allows it).
    # A person listens, in a browser: an API token (another system) never takes a conversation away.
    rule = allow(Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, scope=Scope.ROWS, tokens=False)
    add_route(app, "GET", "/recordings/{recording_id}", get_recording, rule)
