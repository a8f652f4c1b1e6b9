"use strict";
// Shared by the operator's and the senior administrator's pages: the live link and small helpers.
const dialer = {
  csrf: () => document.querySelector('meta[name="csrf"]').content,
  el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; },
  // The service's clock, as its last message said: countdowns hold even when this computer's clock is off.
  skew: 0,
  synced(serverIso) { if (serverIso) dialer.skew = Date.parse(serverIso) - Date.now(); },
  now() { return Date.now() + dialer.skew; },
  // Times are the clinic's local times, wherever the browser is.
  zone: undefined,
  time(iso, tz) { return new Date(iso).toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit", timeZone: tz || dialer.zone }); },
  dateTime(iso, tz) { return new Date(iso).toLocaleString("ru-RU", { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", timeZone: tz || dialer.zone }); },
  phone(e164) {
    const m = /^\+7(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(e164 || "");
    return m ? `+7 (${m[1]}) ${m[2]}-${m[3]}-${m[4]}` : (e164 || "номер скрыт");
  },
  countdown(seconds) {
    const sign = seconds < 0 ? "−" : ""; const s = Math.abs(seconds);
    return `${sign}${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  },
  // Keep one WebSocket open; reconnect with backoff; the server sends the state again on every connect.
  // A socket closed with 4401 belongs to a session that ended: the badge asks to log in again instead.
  live(path, onMessage, onOpen) {
    const badge = document.getElementById("link");
    let delay = 500, socket = null;
    const connect = () => {
      socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path()}`);
      socket.onopen = () => { delay = 500; badge.textContent = "на связи"; badge.className = "link-state on"; if (onOpen) onOpen(socket); };
      socket.onmessage = (event) => onMessage(JSON.parse(event.data));
      socket.onclose = (event) => {
        if (event.code === 4401) {  // the session ended or expired: no point reconnecting
          badge.textContent = ""; badge.className = "link-state off";
          const link = dialer.el("a", "", "войдите снова");
          link.href = `/login?next=${encodeURIComponent(location.pathname)}`;
          badge.append(link);
          return;
        }
        badge.textContent = "переподключение…"; badge.className = "link-state off";
        setTimeout(connect, delay); delay = Math.min(delay * 2, 10000);
      };
    };
    connect();
    return { send: (data) => socket && socket.readyState === 1 && socket.send(JSON.stringify(data)) };
  },
};
