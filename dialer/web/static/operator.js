"use strict";
// The administrator's calls: a card pops up when their phone rings, turns active when they answer, and becomes
// a wrap-up form when the call ends. Everything comes from the server; a reload or a second tab shows the same.
(() => {
  const options = JSON.parse(document.getElementById("form-options").textContent);
  const cards = document.getElementById("cards");
  const STATES = { ringing: "Звонит", active: "Разговор", wrapup: "Оформите звонок" };
  const KINDS = { inbound: "Входящий", direct: "Входящий", reminder: "Мы звоним", callback: "Мы звоним",
                  kos: "Мы звоним · КОС", diary: "Мы звоним · ЕЖ.", offer: "Мы звоним · лист ожидания" };
  const shown = new Map();  // call id -> { node, message }
  const { el } = dialer;

  function empty() {
    if (!cards.querySelector(".card")) {
      cards.replaceChildren(el("p", "empty", "Звонков нет. Карточка появится, когда зазвонит телефон."));
    }
  }

  function section(title, items) {
    const box = el("div");
    box.append(el("h3", null, title));
    const list = el("ul");
    items.forEach((text) => list.append(el("li", null, text)));
    box.append(list);
    return box;
  }

  function render(message) {
    const previous = shown.get(message.call);
    if (previous && previous.message.state === "wrapup" && message.state === "wrapup") return;  // keep what is typed
    const node = el("article", `card ${message.state}`);
    node.dataset.call = message.call;
    const top = el("div", "top");
    top.append(el("span", "phone", dialer.phone(message.phone)), el("span", "state", STATES[message.state] || ""));
    node.append(top, el("div", "kind muted", `${KINDS[message.kind] || ""} · ${dialer.time(message.started_at)}`));
    node.append(el("div", "reason", message.reason));
    const card = message.card;
    if (!card || card.patients.length === 0) {
      node.append(el("div", "newpatient", "Новый пациент: номера нет в базе"));
    } else {
      card.patients.forEach((p) => {
        const line = el("div", "patient", p.name);
        if (p.do_not_call) line.append(el("span", "muted", " · не звонить"));
        node.append(line);
      });
    }
    if (card) {
      if (card.callback) {
        const cb = el("div", "callback");
        cb.append(el("strong", null, `Пропущенный звонок (${card.callback.missed_count}): ${card.callback.reason}. Перезвонить до ${dialer.time(card.callback.deadline_at)} `));
        const timer = el("span", "countdown");
        timer.dataset.deadline = card.callback.deadline_at;
        cb.append(timer);
        node.append(cb);
      }
      if (card.visits.length) node.append(visits(card.visits));
      if (card.recall) {
        const kos = section("КОС", [`Врач: ${card.recall.doctor}`, `Предложение врача: ${card.recall.comment || "—"}`,
                                    `Дата: ${card.recall.day}${card.recall.moves ? ` (переносилась ${card.recall.moves} раз)` : ""}`]);
        kos.className = "recall"; node.append(kos);
      } else {
        node.append(section("КОС", ["Открытых приглашений на контрольный осмотр нет"]));
      }
      if (card.waiting_list.length) node.append(section("Лист ожидания", card.waiting_list.map((w) => `${w.doctor} ${w.day} ${w.comment}`)));
      if (card.diary.length) node.append(section("Ежедневник", card.diary.map((d) => `${d.day}: ${d.comment}`)));
      if (card.contacts.length) node.append(section("Последние обращения", card.contacts.map((c) => `${dialer.dateTime(c.at)} ${c.direction === "out" ? "«Мы звоним»" : "входящий"}: ${options.results[c.result] || c.result}${c.reason ? ", " + c.reason : ""}${c.comment ? " — " + c.comment : ""}`)));
    }
    node.append(el("p", "offer", message.offer));
    if (message.state === "wrapup" && message.wrapup_id) node.append(wrapupForm(message));
    if (previous) previous.node.replaceWith(node); else { cards.querySelector(".empty")?.remove(); cards.prepend(node); }
    shown.set(message.call, { node, message });
    tick();
  }

  function choice(name, value, label) {
    const wrap = el("label", "choice");
    const input = el("input"); input.type = "radio"; input.name = name; input.value = value;
    wrap.append(input, document.createTextNode(" " + label));
    return wrap;
  }

  function input(name, label, type = "text") {
    const wrap = el("label"); wrap.append(document.createTextNode(label));
    const field = el("input"); field.name = name; field.type = type; wrap.append(field);
    wrap.append(el("span", "field-error")); wrap.dataset.field = name;
    return wrap;
  }

  // The next visits; one the patient gives up can be cancelled here, and its time goes to the waiting list.
  function visits(list) {
    const box = section("Ближайшие визиты", []);
    list.forEach((v) => {
      const line = el("div", "visit", `${dialer.dateTime(v.at)} — ${v.doctor} (${v.status}) `);
      if (v.status !== "cancelled") {
        const cancel = el("button", "link", "Отменить визит");
        cancel.type = "button";
        cancel.addEventListener("click", async () => {
          if (!confirm(`Отменить визит ${dialer.dateTime(v.at)} к врачу ${v.doctor}? Время предложим листу ожидания.`)) return;
          const response = await fetch("/api/appointments/cancel", {
            method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": dialer.csrf() },
            body: JSON.stringify({ clinic: v.clinic, appointment_id: v.id }),
          });
          cancel.replaceWith(el("span", response.ok ? "done" : "error", response.ok ? "отменён" : "не удалось отменить"));
        });
        line.append(cancel);
      }
      box.append(line);
    });
    return box;
  }

  function select(name, label, values) {
    const wrap = el("label"); wrap.append(document.createTextNode(label));
    const field = el("select"); field.name = name;
    field.append(el("option", null, "—"));
    values.forEach((v) => { const o = el("option", null, v); o.value = v; field.append(o); });
    field.options[0].value = "";
    wrap.append(field, el("span", "field-error")); wrap.dataset.field = name;
    return wrap;
  }

  function wrapupForm(message) {
    const form = el("form", "wrapup-form");
    const results = el("fieldset"); results.append(el("legend", null, "Итог звонка"));
    Object.entries(options.results).forEach(([value, label]) => results.append(choice("result", value, label)));
    results.append(el("span", "field-error")); results.dataset.field = "result";
    const booked = el("div", "hidden"); booked.dataset.for = "booked";
    booked.append(input("visit_date", "Дата визита", "date"), input("visit_time", "Время", "time"));
    const again = el("div", "hidden"); again.dataset.for = "call_again";
    again.append(input("call_again_date", "Когда перезвонить", "date"), select("reason", "Причина", options.call_again));
    const refused = el("div", "hidden"); refused.dataset.for = "refused";
    refused.append(select("reason", "Причина отказа", options.refusal));
    const slots = el("fieldset"); slots.append(el("legend", null, "Предложенные время (два конкретных)"));
    slots.append(input("slot1", "Первое, например «сегодня 18:40»"), input("slot2", "Второе, например «завтра 12:20»"));
    const comment = el("label"); comment.append(document.createTextNode("Комментарий"));
    const text = el("textarea"); text.name = "comment"; text.rows = 2; comment.append(text, el("span", "field-error"));
    comment.dataset.field = "comment";
    const extra = el("fieldset"); extra.append(el("legend", null, "Добавить"));
    extra.append(input("waiting_doctor", "В лист ожидания: врач"), input("waiting_date", "на дату", "date"),
                 input("waiting_comment", "комментарий"), input("diary_date", "В ежедневник: дата", "date"),
                 input("diary_comment", "комментарий"));
    const complaint = el("fieldset", "complaint"); complaint.append(el("legend", null, "Жалоба пациента"));
    const klass = select("complaint_class", "Класс", []);
    Object.entries(options.complaints || {}).forEach(([value, label]) => {
      const o = el("option", null, label); o.value = value; klass.querySelector("select").append(o);
    });
    complaint.append(klass, input("complaint_comment", "О чём жалоба"));
    const errors = el("p", "error"); const save = el("button", null, "Сохранить");
    form.append(results, booked, again, refused, slots, comment, extra, complaint, errors, save);
    form.addEventListener("change", () => {
      const value = form.querySelector('input[name="result"]:checked')?.value;
      form.querySelectorAll("[data-for]").forEach((box) => box.classList.toggle("hidden", box.dataset.for !== value));
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = form.querySelector('input[name="result"]:checked')?.value || "";
      const body = { result, comment: text.value };
      const visible = (name) => [...form.querySelectorAll(`[name="${name}"]`)].find((f) => !f.closest(".hidden"));
      ["visit_date", "visit_time", "call_again_date", "reason", "waiting_doctor", "waiting_date", "waiting_comment",
       "diary_date", "diary_comment", "complaint_class", "complaint_comment"].forEach((name) => { const f = visible(name); if (f && f.value) body[name] = f.value; });
      body.slots = ["slot1", "slot2"].map((n) => visible(n).value).filter(Boolean);
      form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; }); errors.textContent = "";
      const response = await fetch(`/api/wrapups/${message.wrapup_id}`, {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": dialer.csrf() },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (response.ok) {
        shown.get(message.call)?.node.remove(); shown.delete(message.call); empty();
        const toast = el("div", "toast", `Сохранено: ${answer.label}`); document.body.append(toast);
        setTimeout(() => toast.remove(), 3000);
        return;
      }
      (answer.errors || []).forEach((e) => {
        const slot = form.querySelector(`[data-field="${e.field}"]:not(.hidden) .field-error, [data-field="${e.field}"] > .field-error`);
        if (slot) slot.textContent = e.message; else errors.textContent = e.message;
      });
    });
    return form;
  }

  function tick() {
    document.querySelectorAll(".countdown[data-deadline]").forEach((timer) => {
      const left = Math.round((new Date(timer.dataset.deadline) - dialer.now()) / 1000);
      timer.textContent = `осталось ${dialer.countdown(left)}`;
      timer.className = `countdown ${left < 0 ? "breach" : left < 300 ? "amber" : "green"}`;
    });
  }
  setInterval(tick, 1000);

  dialer.live(() => "/ws", (message) => {
    dialer.synced(message.now);
    if (message.tz) dialer.zone = message.tz;
    if (message.type === "card") render(message);
    if (message.type === "close") { shown.get(message.call)?.node.remove(); shown.delete(message.call); empty(); }
  }, () => { shown.forEach(({ node }) => node.remove()); shown.clear(); empty(); });
})();
