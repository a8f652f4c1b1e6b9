"use strict";
// The senior administrator's live board: the server pushes a fresh board whenever something changes.
(() => {
  const { el } = dialer;
  const clinic = document.getElementById("clinic");
  let received = Date.now();

  function tile(label, value, good) {
    const box = el("div", `tile${good === undefined ? "" : good ? " good" : " bad"}`);
    box.append(el("div", "value", String(value)), el("div", "label", label));
    return box;
  }

  function render(board) {
    received = Date.now();
    dialer.synced(board.at);
    dialer.zone = board.tz || dialer.zone;
    const t = board.tiles;
    document.getElementById("tiles").replaceChildren(
      tile("ждут ответа сейчас", t.waiting, t.waiting === 0),
      tile("самое долгое ожидание, с", t.longest_wait, t.longest_wait < 20),
      tile("отвечено за 20 с сегодня, %", t.answered_in_target_pct),
      tile(`пропущено сегодня, % (цель ${t.missed_target[0]}–${t.missed_target[1]}%)`, t.missed_pct, t.missed_ok),
      tile("перезвонов в работе", t.open_callbacks),
      tile("нарушений срока сегодня", t.breaches, t.breaches === 0),
      tile("перезвон ≤ 15 мин, %", t.callbacks_in_deadline_pct),
    );
    const ahead = board.ahead_of_queue;
    if (ahead && ahead.count) {
      document.getElementById("tiles").append(
        tile(`перезвон вне очереди сегодня, последний в ${dialer.time(ahead.last_at)}`, ahead.count));
    }
    document.getElementById("tiles").dataset.missed = String(t.missed_pct);
    const alerts = document.getElementById("alerts");
    const down = (board.pbx_down || []).map((d) => el("div", "alert pbx-down", `⚠ ${d.text}`));
    alerts.replaceChildren(...down, ...board.alerts.map((a) => el("div", "alert", `⚠ ${a.label}: ${a.detail} (с ${dialer.time(a.raised_at)})`)));
    const callbacks = document.getElementById("callbacks");
    const head = el("tr"); ["Номер", "Пропущено", "Причина", "Срок", "Осталось"].forEach((h) => head.append(el("th", null, h)));
    callbacks.replaceChildren(head, ...board.callbacks.map((c) => {
      const row = el("tr", c.risk);
      const left = el("td", "left"); left.dataset.seconds = String(c.seconds_left);
      row.append(el("td", null, c.phone), el("td", null, String(c.missed_count)), el("td", null, c.reason),
                 el("td", null, dialer.time(c.deadline_at)), left);
      return row;
    }));
    if (!board.callbacks.length) callbacks.replaceChildren(el("tr", null, "Все пропущенные перезвонены"));
    const admins = document.getElementById("admins");
    admins.replaceChildren(...board.admins.map((a) => {
      const row = el("tr"); row.append(el("td", null, a.name), el("td", `state ${a.state}`, a.label)); return row;
    }));
    document.getElementById("charts").innerHTML = board.chart;  // server-built SVG, escaped there
    const f = board.campaign;
    const funnel = el("div", "funnel");
    [["к обзвону", f.due], ["звонков", f.dialled], ["дозвонились", f.reached], ["подтвердили", f.confirmed],
     ["отменили", f.cancelled], ["SMS отправлено", f.sms_sent], ["SMS доставлено", f.sms_delivered]].forEach(([l, v]) => {
      const box = el("div"); box.append(el("b", null, String(v)), document.createTextNode(l)); funnel.append(box);
    });
    document.getElementById("campaign").replaceChildren(funnel);
    tick();
  }

  function tick() {
    const passed = Math.round((Date.now() - received) / 1000);
    document.querySelectorAll("#callbacks td.left").forEach((cell) => {
      cell.textContent = dialer.countdown(Number(cell.dataset.seconds) - passed);
    });
  }
  setInterval(tick, 1000);

  const link = dialer.live(() => `/ws?clinic=${encodeURIComponent(clinic.value)}`, (message) => {
    if (message.type === "board" && message.clinic === clinic.value) render(message);
  });
  clinic.addEventListener("change", () => link.send({ clinic: clinic.value }));
})();
