"""WebSockets: each operator's pop-ups, and the senior administrators' live board. The server pushes; the
browser never polls. Each socket has its own outbox and writer, so a slow browser never holds up the rest."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from dialer.engine.board import Board
from dialer.engine.loops import forever
from dialer.engine.popups import Popups
from dialer.settings import Settings
from dialer.web.auth import SUPERVISORS, user_of
from dialer.web.charts import hours_svg
from dialer.web.params import query_clinic

log = logging.getLogger("dialer.web")

BOARD_EVERY_SECONDS = 1.0
OUTBOX_LIMIT = 200


@dataclass(eq=False)
class _Socket:
    ws: web.WebSocketResponse
    user_id: int
    supervisor: bool
    clinic: str = ""
    outbox: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))

    def send(self, text: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a browser that stopped reading gets no more
            self.outbox.put_nowait(text)


@dataclass
class LiveHub:
    settings: Settings
    popups: Popups
    board: Board
    _sockets: dict[int, set[_Socket]] = field(default_factory=lambda: defaultdict(set))
    _boards: set[_Socket] = field(default_factory=set)
    _last_board: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.popups.push = self.to_user

    def to_user(self, user_id: int, message: dict[str, Any]) -> None:
        text = json.dumps(message, ensure_ascii=False, default=str)
        for socket in self._sockets.get(user_id, ()):
            socket.send(text)

    async def boards(self) -> None:
        """Build each watched clinic's board once a second and push it when it changed."""

        async def turn() -> None:
            await self.board.clock.sleep(BOARD_EVERY_SECONDS)
            for clinic_id in {s.clinic for s in self._boards}:
                try:  # one clinic's trouble does not hold up the others' boards
                    await self.push_board(clinic_id)
                except Exception:
                    log.exception("board for %s failed", clinic_id)

        await forever("boards", turn, self.board.clock)

    async def push_board(self, clinic_id: str, only: _Socket | None = None) -> None:
        clinic = self.settings.clinics.get(clinic_id)
        if clinic is None:
            return
        board = await self.board.snapshot(clinic)
        board["chart"] = hours_svg(board["hours"])
        text = json.dumps(board, ensure_ascii=False, default=str)
        if only is None and self._last_board.get(clinic_id) == text:
            return
        self._last_board[clinic_id] = text
        for socket in [only] if only else [s for s in self._boards if s.clinic == clinic_id]:
            socket.send(text)

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        user = user_of(request)
        supervisor = user.role in SUPERVISORS
        chosen = query_clinic(request, self.settings) if supervisor else None  # refused before the upgrade
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        socket = _Socket(ws, user.user_id, supervisor)
        self._sockets[user.user_id].add(socket)
        writer = asyncio.create_task(self._write(socket))
        try:
            if socket.supervisor:
                socket.clinic = chosen.id if chosen else next(iter(self.settings.clinics), "")
                self._boards.add(socket)
                await self.push_board(socket.clinic, only=socket)
            else:
                for card in await self.popups.snapshot(user.user_id):
                    socket.send(json.dumps(card, ensure_ascii=False, default=str))
            async for incoming in ws:
                if incoming.type == WSMsgType.TEXT and socket.supervisor:
                    await self._choose_clinic(socket, incoming.data)
        finally:
            self._sockets[user.user_id].discard(socket)
            self._boards.discard(socket)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def _choose_clinic(self, socket: _Socket, data: str) -> None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            clinic = json.loads(data).get("clinic")
            if clinic in self.settings.clinics:
                socket.clinic = clinic
                await self.push_board(clinic, only=socket)

    @staticmethod
    async def _write(socket: _Socket) -> None:
        while True:
            text = await socket.outbox.get()
            try:
                await socket.ws.send_str(text)
            except ConnectionError:
                return
