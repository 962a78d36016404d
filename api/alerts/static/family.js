// The family page: one's own elder on a phone. Latest position (map, age, accuracy), today's
// steps and vitals, open SOS/falls and what staff did, a rating of each resolved one,
// bookings and time-bank balance.
// The API decides what this account may see; the page only asks for its linked elders.
"use strict";

import { api, send, setToken } from "./api.js";
import { $, el } from "./dom.js";
import { duration, loadCatalogue, locale, localTime, t } from "./i18n.js";
import { changeLanguage, logInFromForm, showLogin, showPage } from "./pages.js";
import { MapView, mapConfig } from "./map.js";
import { ruleName, statusName, targetNames } from "./words.js";

const REFRESH_MS = 60000;
const state = { map: null, elders: [], elder: null, timer: null };

function showError(message) {
  $("error").textContent = message || "";
}

async function login(event) {
  event.preventDefault();
  if (!(await logInFromForm(() => logout(t("console.session_ended"))))) return;
  const me = await api("/accounts/me");
  if (me.role !== "family") {
    setToken(null);
    $("login-error").textContent = t("family.not_family");
    return;
  }
  if (me.locale && me.locale !== locale()) await switchLanguage(me.locale, false);
  showPage("family-view");
  if (!state.map) state.map = new MapView($("map"), await mapConfig());
  state.map.resize();
  const page = await api("/residents?limit=100");
  state.elders = page.items;
  if (!state.elders.length) {
    showError(t("family.no_elder"));
    return;
  }
  $("elder").replaceChildren(...state.elders.map((r) => el("option", { value: r.resident_id }, r.full_name)));
  $("elder-choice").hidden = state.elders.length < 2;
  await show(state.elders[0].resident_id);
  state.timer = setInterval(() => show(state.elder.resident_id), REFRESH_MS);
}

function logout(message) {
  clearInterval(state.timer);
  setToken(null);
  state.elders = [];
  showLogin("family-view", message);
}

async function switchLanguage(wanted, remember) {
  await changeLanguage(wanted, remember).catch((error) => showError(error.message));
  if (state.elder) show(state.elder.resident_id);
}

const optional = (promise) => promise.catch((error) => (error.status === 401 ? Promise.reject(error) : null));

async function show(residentId) {
  const elder = state.elders.find((r) => r.resident_id === Number(residentId));
  state.elder = elder;
  $("elder-name").textContent = elder.full_name;
  document.body.dataset.residentId = String(elder.resident_id);
  const datum = state.map.datum;
  const rid = elder.resident_id;
  let latest, vitals, urgent, bookings, balance, fences;
  try {
    [latest, vitals, urgent, bookings, balance, fences] = await Promise.all([
      optional(api(`/residents/${rid}/location/latest?datum=${datum}`)),
      optional(api(`/residents/${rid}/vitals/latest`)),
      optional(api(`/family/alerts?resident_id=${rid}`)),
      optional(api(`/bookings?resident_id=${rid}&limit=20`)),
      optional(api(`/timebank/residents/${rid}`)),
      optional(api(`/residents/${rid}/geofences?datum=${datum}&limit=20`)),
    ]);
  } catch (error) {
    return; // logged out
  }
  showPosition(latest, fences, elder.timezone);
  showVitals(vitals, elder.timezone);
  showUrgent(urgent, elder.timezone);
  showToRate(urgent, elder.timezone);
  showBookings(bookings, balance, elder.timezone);
  document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
}

function showPosition(latest, fences, zone) {
  const fix = latest && latest.fix;
  $("position-summary").textContent = fix
    ? `${localTime(fix.t, zone)} · ${t("family.position.summary", { age: duration(fix.age_s), acc: Math.round(fix.acc_m) })}`
    : t("family.position.none");
  const position = fix && { lat: fix.lat, lon: fix.lon, acc_m: fix.acc_m };
  state.map.setResidents(fix ? [{ resident_id: 0, full_name: state.elder.full_name, location: latest }] : [], new Set());
  state.map.showFocus({ position, fences: fences ? fences.items : [] });
}

function today(iso, zone) {
  return iso && localTime(iso, zone).slice(0, 10) === localTime(new Date().toISOString(), zone).slice(0, 10);
}

function showVitals(vitals, zone) {
  const rows = [];
  if (vitals && vitals.t) {
    const steps = today(vitals.t, zone) ? vitals.steps ?? 0 : 0;
    rows.push(["family.vitals.steps", String(steps)]);
    if (vitals.hr != null) rows.push(["family.vitals.hr", t("family.vitals.hr_value", vitals)]);
    if (vitals.sbp != null) rows.push(["family.vitals.bp", t("family.vitals.bp_value", vitals)]);
    rows.push(["family.vitals.measured", localTime(vitals.t, zone)]);
  }
  $("vitals").replaceChildren(...(rows.length
    ? rows.flatMap(([label, value]) => [el("dt", {}, t(label)), el("dd", {}, value)])
    : [el("dd", {}, t("family.vitals.none"))]));
}

function actionText(action, zone) {
  const params = {
    time: localTime(action.at, zone),
    actor: action.actor_name || t("family.action.staff"),
    assignee: action.data.assignee || "",
    resolution: action.data.resolution || "",
    targets: targetNames(action.data.targets),
  };
  return t(`family.action.${action.kind}`, params);
}

function showUrgent(urgent, zone) {
  const items = urgent ? urgent.items : [];
  $("urgent").replaceChildren(...(items.length ? items.map((a) => el("li", { "data-alert-id": a.alert_id },
    t("family.alerts.item", { time: localTime(a.opened_at, zone), rule: ruleName(a.rule), status: statusName(a.status) }),
    el("ul", {}, ...a.actions.map((action) => el("li", {}, actionText(action, zone))))))
    : [el("li", { className: "none" }, t("family.alerts.none"))]));
}

function showToRate(urgent, zone) {
  const items = urgent ? urgent.to_rate : [];
  $("rate-card").hidden = items.length === 0 && !$("rate-message").textContent;
  $("to-rate").replaceChildren(...items.map((a) => rateForm(a, zone)));
}

function rateForm(alert, zone) {
  const scores = [5, 4, 3, 2, 1].map((score) => el("option", { value: score }, t("family.rate.score", { score })));
  const score = el("select", { name: "score", className: "score" }, ...scores);
  const comment = el("input", { name: "comment", className: "comment", maxLength: 500, placeholder: t("family.rate.comment") });
  const form = el("form", { "data-alert-id": alert.alert_id },
    el("p", {}, t("family.rate.item", { time: localTime(alert.opened_at, zone), rule: ruleName(alert.rule) })),
    score, comment, el("button", { type: "submit" }, t("family.rate.submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await send(`/family/alerts/${alert.alert_id}/rating`, { score: Number(score.value), comment: comment.value });
      $("rate-message").textContent = t("family.rate.thanks");
    } catch (error) {
      if (error.status === 401) return;
      $("rate-message").textContent = t("family.rate.failed", { error: error.message });
    }
    await show(state.elder.resident_id);
  });
  return el("li", {}, form);
}

function showBookings(bookings, balance, zone) {
  const items = bookings ? bookings.items : [];
  $("bookings").replaceChildren(...(items.length ? items.map((b) => el("li", {}, t("family.bookings.item", {
    service: t(`service.${b.service}`),
    status: t(`booking_status.${b.status}`),
    slot: b.slot_start ? t("family.bookings.slot", { time: localTime(b.slot_start, zone) }) : "",
  }))) : [el("li", {}, t("family.bookings.none"))]));
  $("balance").textContent = balance ? t("family.timebank.balance", { minutes: balance.balance_min }) : "";
}

async function start() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout(""));
  $("language").addEventListener("change", () => switchLanguage($("language").value, true));
  $("elder").addEventListener("change", () => show($("elder").value));
  try {
    await loadCatalogue("auto");
  } catch (_) { /* ids shown instead of texts */ }
  $("language").value = locale();
  document.body.dataset.ready = "1";
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
