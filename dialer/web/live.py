"""WebSockets: each operator's pop-ups, and the senior administrators' live board. The server pushes; the
browser never polls. Each socket has its own outbox and writer, so a slow browser never holds up the rest.

A socket lives only as long as the session (or API token) it was opened with. Logging out in this process
closes it at once. Ending a session elsewhere (`dialer users disable` or `passwd` run from another process
delete the user's sessions in the database) is found by a check of every open socket's session, one query
for all of them, every SESSION_CHECK_SECONDS, and before each message a browser sends. A socket whose session
ended or expired is closed with the code ENDED, which the page shows as «войдите снова»; until it is closed
its writer sends nothing, and nothing at all after the session's expiry.

When the service stops, every socket is closed with GOING_AWAY (the page reconnects to the next run) before the
web runner stops: from then on aiohttp reads nothing more from the browsers, so a socket still open would wait
for its heartbeat to fail (20 s, then 10 s for the pong) and hold the stop past a service manager's grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import WSCloseCode, WSMsgType, web

from dialer.core.board_view import BoardMessage
from dialer.core.cards import PopupMessage
from dialer.core.privacy import describe_error
from dialer.core.staff import UserRow
from dialer.core.stores import UserStore
from dialer.engine.board import Board
from dialer.engine.loops import forever
from dialer.engine.popups import Popups
from dialer.settings import Settings
from dialer.web.access import SUPERVISORS, one_clinic
from dialer.web.auth import CREDENTIAL, Credential, user_of
from dialer.web.charts import hours_svg
from dialer.web.params import known_clinic

log = logging.getLogger("dialer.web")

BOARD_EVERY_SECONDS = 1.0
OUTBOX_LIMIT = 200
SESSION_CHECK_SECONDS = 1.0
ENDED = 4401  # a private close code: the session ended or expired; the page says «войдите снова»
ENDED_TEXT = "войдите снова".encode()
GOING_AWAY_TEXT = "сервис перезапускается".encode()
# How long a closing socket waits for the browser's answer to the close: a browser that never answers must not
# hold up the stop.
CLOSE_ANSWER_SECONDS = 2.0


def as_json(message: PopupMessage | BoardMessage) -> str:
    """The one place a live message becomes the text a socket sends."""
    return json.dumps(message, ensure_ascii=False, default=str)


@dataclass(eq=False)
class _Socket:
    ws: web.WebSocketResponse
    user: UserRow
    supervisor: bool
    credential: Credential
    clinic: str = ""
    outbox: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))
    expires_at: datetime | None = None  # the session's end, as last checked (None: an API token)
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # the session ended: the handler closes
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # the handler is done with the socket
    # An operator's page being caught up: the pop-ups pushed meanwhile, (call, text), wait here (see LiveHub._catch_up).
    held: list[tuple[str, str]] | None = None

    def send(self, text: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a browser that stopped reading gets no more
            self.outbox.put_nowait(text)


class OpenPages:
    """Each user's open pages (WebSockets), to which the pop-ups are pushed."""

    def __init__(self) -> None:
        self.by_user: dict[int, set[_Socket]] = defaultdict(set)

    def to_user(self, user_id: int, message: PopupMessage) -> None:
        text = as_json(message)
        for socket in self.by_user.get(user_id, ()):
            if socket.held is not None:
                socket.held.append((message["call"], text))
            else:
                socket.send(text)


@dataclass
class LiveHub:
    settings: Settings
    popups: Popups
    board: Board
    users: UserStore
    pages: OpenPages
    _boards: set[_Socket] = field(default_factory=set)
    _last_board: dict[str, str] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def to_user(self, user_id: int, message: PopupMessage) -> None:
        self.pages.to_user(user_id, message)

    async def boards(self) -> None:
        """Build each watched clinic's board once a second and push it when it changed."""

        async def turn() -> None:
            await self.board.clock.sleep(BOARD_EVERY_SECONDS)
            for clinic_id in {s.clinic for s in self._boards}:
                try:  # one clinic's trouble does not hold up the others' boards
                    await self.push_board(clinic_id)
                except Exception as exc:
                    log.error("board for %s failed: %s", clinic_id, describe_error(exc))

        await forever("boards", turn, self.board.clock)

    async def push_board(self, clinic_id: str, only: _Socket | None = None) -> None:
        clinic = self.settings.clinics.get(clinic_id)
        if clinic is None:
            return
        board = await self.board.snapshot(clinic)
        board["chart"] = hours_svg(board["hours"])
        text = as_json(board)
        if only is None and self._last_board.get(clinic_id) == text:
            return
        self._last_board[clinic_id] = text
        for socket in [only] if only else [s for s in self._boards if s.clinic == clinic_id]:
            socket.send(text)

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        user = user_of(request)
        supervisor = user.role in SUPERVISORS
        # A board only of a clinic the user holds: ?clinic= of another is refused before the socket opens.
        clinic = ""
        if supervisor:
            clinic = known_clinic(
                request, self.settings, one_clinic(request, user, list(self.settings.clinics))
            ).id
        ws = web.WebSocketResponse(heartbeat=20, timeout=CLOSE_ANSWER_SECONDS)
        await ws.prepare(request)
        socket = _Socket(ws, user, supervisor, request[CREDENTIAL], clinic, held=None if supervisor else [])
        self.pages.by_user[user.user_id].add(socket)
        writer = asyncio.create_task(self._write(socket))
        try:
            if await self.check(socket):
                if socket.supervisor:
                    self._boards.add(socket)
                    await self.push_board(socket.clinic, only=socket)
                else:
                    await self._catch_up(socket)
                await self._read(socket)
            if socket.ended.is_set():
                # Closed here, by the task that reads: the browser's answer to the close is awaited, so it
                # surely gets the code.
                await ws.close(code=ENDED, message=ENDED_TEXT)
            elif self._stopping.is_set():
                await ws.close(code=WSCloseCode.GOING_AWAY, message=GOING_AWAY_TEXT)
        finally:
            self.pages.by_user[user.user_id].discard(socket)
            self._boards.discard(socket)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            socket.closed.set()
        return ws

    async def _catch_up(self, socket: _Socket) -> None:
        """An operator's page that just opened gets the calls in progress and the wrap-ups not yet saved, then
        live pop-ups. The socket is among the user's pages from its handshake on, so that no pop-up is lost while
        the wrap-ups are read; what is pushed meanwhile is held, and sent after the catch-up unless the call is
        still in progress: then the catch-up's card, read after it, is newer. So a call is never shown twice, nor
        a card's older state after its newer one, nor a card after its close."""
        wrapups = await self.popups.unsaved_wrapups(socket.user)
        # From here on nothing awaits: no pop-up can come between the calls read and the socket going live.
        live = self.popups.in_progress(socket.user)
        held, socket.held = socket.held or [], None
        in_progress = {card["call"] for card in live}
        pushed = [(call, text) for call, text in held if call not in in_progress]
        seen = in_progress | {call for call, _ in pushed}
        for card in [*live, *(card for card in wrapups if card["call"] not in seen)]:
            socket.send(as_json(card))
        for _, text in pushed:
            socket.send(text)

    async def _read(self, socket: _Socket) -> None:
        """The browser's messages, until it goes away, its session ends (the session is checked on each) or the
        service stops."""
        ended = asyncio.create_task(socket.ended.wait())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            while True:
                incoming = asyncio.create_task(socket.ws.receive())
                await asyncio.wait((incoming, ended, stopping), return_when=asyncio.FIRST_COMPLETED)
                if not incoming.done() or ended.done() or stopping.done():
                    incoming.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await incoming
                    return
                message = incoming.result()
                if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    return
                if not await self.check(socket):
                    return
                if message.type == WSMsgType.TEXT and socket.supervisor:
                    await self._choose_clinic(socket, message.data)
        finally:
            ended.cancel()
            stopping.cancel()

    async def _choose_clinic(self, socket: _Socket, data: str) -> None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            clinic = json.loads(data).get("clinic")
            if clinic in self.settings.clinics and socket.user.holds(clinic):
                socket.clinic = clinic
                await self.push_board(clinic, only=socket)

    async def _write(self, socket: _Socket) -> None:
        while True:
            text = await socket.outbox.get()
            if socket.ended.is_set() or (
                socket.expires_at is not None and self.board.clock.now() >= socket.expires_at
            ):
                continue  # closed within SESSION_CHECK_SECONDS; meanwhile not a word more
            try:
                await socket.ws.send_str(text)
            except ConnectionError:
                return

    # -- sessions ---------------------------------------------------------------------------------------

    async def watch_sessions(self) -> None:
        """Close the sockets whose session ended or expired, wherever it was ended."""

        async def turn() -> None:
            await self.board.clock.sleep(SESSION_CHECK_SECONDS)
            await self.check_all()

        await forever("socket-sessions", turn, self.board.clock)

    async def check_all(self) -> None:
        await self._check([s for group in self.pages.by_user.values() for s in group if not s.ended.is_set()])

    async def check(self, socket: _Socket) -> bool:
        """Is the socket's session still open? If not, the socket is being closed."""
        await self._check([socket])
        return not socket.ended.is_set()

    async def end(self, credential: Credential) -> None:
        """A session ended in this process (logout): close its sockets now."""
        self._end(s for group in self.pages.by_user.values() for s in group if s.credential == credential)

    async def _check(self, sockets: list[_Socket]) -> None:
        if not sockets:
            return
        sessions = {s.credential.digest for s in sockets if s.credential.kind == "session"}
        tokens = {s.credential.digest for s in sockets if s.credential.kind == "token"}
        live = await self.users.live_sessions(sessions, self.board.clock.now())
        live_tokens = await self.users.live_tokens(tokens)
        gone = []
        for socket in sockets:
            if socket.credential.kind == "session":
                socket.expires_at = live.get(socket.credential.digest)
                if socket.expires_at is None:
                    gone.append(socket)
            elif socket.credential.digest not in live_tokens:
                gone.append(socket)
        self._end(gone)

    def _end(self, sockets: Iterable[_Socket]) -> None:
        for socket in sockets:
            if not socket.ended.is_set():
                socket.ended.set()
                log.info("closing a live socket of user %s: the session ended", socket.user.user_id)

    async def close_all(self, within: float) -> None:
        """The service is stopping: close every open page's socket, waiting at most `within` seconds."""
        self._stopping.set()
        sockets = [s for group in self.pages.by_user.values() for s in group]
        if not sockets:
            return
        log.info("closing %d live pages: the service is stopping", len(sockets))
        waits = [asyncio.create_task(s.closed.wait()) for s in sockets]
        _, late = await asyncio.wait(waits, timeout=within)
        for wait in late:
            wait.cancel()
        if late:
            log.warning(
                "%d live pages did not close within %.0f s; the web server ends them", len(late), within
            )

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """The web app's cleanup context: the session check runs while the app serves."""
        watcher = asyncio.create_task(self.watch_sessions(), name="ws-sessions")
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
