// Duty console: login, unresolved alerts by priority, live updates over SSE, actions.
// Every untrusted string is rendered as text (textContent / text nodes), never as HTML.
"use strict";

import { api, send, setToken, token } from "./api.js";
import {
  applyTexts, duration, idsStartingWith, loadCatalogue, locale, localTime, t,
} from "./i18n.js";
import { Alarm } from "./alarm.js";
import { $, el } from "./dom.js";
import { drawVitals } from "./chart.js";
import { MapView, mapConfig } from "./map.js";
import { changeLanguage, logInFromForm, showLogin, showPage } from "./pages.js";
import {
  alertTitle, ruleName, severityName, statusName, timelineText, triggerText,
} from "./words.js";

const LIST_LIMIT = 100;
const POLL_MS = 60000; // safety net only; live updates come over the stream
const URGENT_RULES = ["sos", "fall"];
const URGENT_URLS = URGENT_RULES.map((rule) => `/alerts?status=open&rule=${rule}&limit=100`);
const BOARD_MS = 60000; // residents' band state and last positions
const TRACK_HOURS = 2;
const VITALS_HOURS = 6;
const state = {
  alerts: new Map(), source: null, selected: null, timers: [], conn: "offline",
  map: null, board: [], alarm: null,
  urgent: new Map(), // open SOS and falls, whatever the filters show: the alarm follows these
};

function showError(message) {
  $("error").textContent = message || "";
}

// --- login / logout ---------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  Alarm.askForNotifications(); // inside the click: browsers ask only then
  if (!(await logInFromForm(() => logout(t("console.session_ended"))))) return;
  try {
    await api("/alerts/stream/session", { method: "POST" });
  } catch (error) {
    $("login-error").textContent = error.status === 403
      ? t("console.login.no_console") : t("console.login.cannot_start", { message: error.message });
    setToken(null);
    return;
  }
  const me = await api("/accounts/me");
  if (me.locale && me.locale !== locale()) await switchLanguage(me.locale, false);
  showPage("console-view");
  if (!state.map) state.map = new MapView($("map"), await mapConfig());
  fillRuleFilter();
  await fillGridFilter();
  state.map.resize();
  await loadAlerts();
  openStream();
  loadBoard();
  state.timers.push(setInterval(loadAlerts, POLL_MS), setInterval(loadBoard, BOARD_MS));
}

// --- residents on the map -----------------------------------------------------------------

async function loadBoard() {
  if (!token() || !state.map) return;
  const rows = [];
  try {
    for (let offset = 0; offset !== null && offset < 1000;) {
      const page = await api(`/board/residents?datum=${state.map.datum}&limit=100&offset=${offset}`);
      rows.push(...page.items);
      offset = page.next_offset;
    }
  } catch (error) {
    if (error.status !== 401) showError(error.message);
    return;
  }
  state.board = rows;
  drawBoard();
  renderResidents();
}

function drawBoard() {
  if (!state.map) return;
  const alerting = new Set([...state.alerts.values()].map((a) => a.resident_id));
  state.map.setResidents(state.board, alerting);
}

async function focusResident(alert) {
  const rid = alert.resident_id;
  const fix = alert.last_location && alert.last_location.fix;
  const position = alert.position || (fix && { lat: fix.lat, lon: fix.lon, acc_m: fix.acc_m });
  if (rid == null) {
    state.map.showFocus({ position });
    return;
  }
  const datum = state.map.datum;
  const start = new Date(Date.now() - TRACK_HOURS * 3600 * 1000).toISOString();
  const [fences, track] = await Promise.all([
    api(`/residents/${rid}/geofences?datum=${datum}&limit=100`).catch(() => ({ items: [] })),
    api(`/residents/${rid}/location/history?datum=${datum}&limit=100&start=${encodeURIComponent(start)}`)
      .catch(() => ({ items: [] })),
  ]);
  if (state.selected !== alert.alert_id) return; // another alert was picked meanwhile
  state.map.showFocus({ position, fences: fences.items, track: track.items });
}

function logout(message) {
  if (state.source) state.source.close();
  state.source = null;
  state.timers.forEach(clearInterval);
  state.timers = [];
  if (token()) fetch("/alerts/stream/session", { method: "DELETE" });
  setToken(null);
  state.alerts.clear();
  state.urgent.clear();
  if (state.alarm) state.alarm.stop();
  state.board = [];
  state.selected = null;
  if (state.map) state.map.clearFocus();
  setConn("offline");
  showLogin("console-view", message);
}

async function switchLanguage(wanted, remember) {
  await changeLanguage(wanted, remember).catch((error) => showError(error.message));
  setConn(state.conn);
  fillRuleFilter();
  render();
  renderResidents();
  if (state.selected !== null) showDetail(state.selected);
}

// --- the list -------------------------------------------------------------------------

// --- filters ----------------------------------------------------------------------------

function filters() {
  const status = $("filter-status").value;
  return {
    status: status === "unresolved" ? ["open", "acknowledged"] : [status],
    priority: $("filter-priority").value,
    grid: $("filter-grid").value,
    rule: $("filter-rule").value,
  };
}

function listUrl() {
  const f = filters();
  const query = new URLSearchParams({ order: "priority", limit: String(LIST_LIMIT) });
  for (const status of f.status) query.append("status", status);
  if (f.priority) query.set("priority", f.priority);
  if (f.grid) query.set("grid_id", f.grid);
  if (f.rule) query.set("rule", f.rule);
  return `/alerts?${query}`;
}

/** Whether an alert (from the live stream) belongs in the list the filters ask for. */
function matches(alert) {
  const f = filters();
  return f.status.includes(alert.status)
    && (!f.priority || String(alert.priority) === f.priority)
    && (!f.grid || String(alert.grid_id) === f.grid)
    && (!f.rule || alert.rule === f.rule);
}

function fillRuleFilter() {
  const select = $("filter-rule");
  const chosen = select.value;
  const rules = idsStartingWith("rule.").filter((id) => id.endsWith(".name"))
    .map((id) => id.slice(5, -5)).sort((a, b) => ruleName(a).localeCompare(ruleName(b)));
  select.replaceChildren(el("option", { value: "" }, t("console.filter.all")),
    ...rules.map((rule) => el("option", { value: rule }, ruleName(rule))));
  select.value = chosen;
}

async function fillGridFilter() {
  try {
    const page = await api("/grids?limit=100");
    const select = $("filter-grid");
    state.grids = new Map(page.items.map((g) => [g.grid_id, g.name]));
    select.replaceChildren(el("option", { value: "" }, t("console.filter.all")),
      ...page.items.map((g) => el("option", { value: String(g.grid_id) }, g.name)));
  } catch (error) {
    if (error.status !== 401) showError(error.message);
  }
}

function showTab(name) {
  $("alerts-view").hidden = name !== "alerts";
  $("residents-view").hidden = name !== "residents";
  $("tab-alerts").classList.toggle("active", name === "alerts");
  $("tab-residents").classList.toggle("active", name === "residents");
}

// --- the residents list --------------------------------------------------------------------

function renderResidents() {
  const rows = state.board.map((r) => {
    const loc = r.location;
    const band = loc.device_id;
    return el("tr", { "data-resident-id": r.resident_id, "data-online": String(loc.online) },
      el("td", {}, r.full_name),
      el("td", {}, (state.grids && state.grids.get(r.grid_id)) || ""),
      el("td", { className: "risk" }, riskFlags(r)),
      el("td", {}, band ? yesNo(loc.online) : t("console.residents.no_band")),
      el("td", {}, loc.battery == null ? "" : t("console.percent", { value: loc.battery })),
      el("td", {}, band ? yesNo(r.worn) : ""),
      el("td", {}, localTime(loc.last_seen, r.timezone)));
  });
  $("resident-rows").replaceChildren(...rows);
}

async function loadAlerts() {
  if (!token()) return;
  try {
    const [page, ...urgent] = await Promise.all([listUrl(), ...URGENT_URLS].map((url) => api(url)));
    state.alerts = new Map(page.items.map((alert) => [alert.alert_id, alert]));
    state.urgent = new Map(urgent.flatMap((p) => p.items).map((alert) => [alert.alert_id, alert]));
    render();
    document.body.dataset.listLoads = String(Number(document.body.dataset.listLoads || 0) + 1);
    showError(page.next_offset ? t("console.alerts.truncated", { limit: LIST_LIMIT }) : "");
  } catch (error) {
    if (error.status !== 401) showError(t("console.alerts.load_failed", { message: error.message }));
  }
}

function applyAlert(alert) {
  if (alert.status === "open" && URGENT_RULES.includes(alert.rule)) state.urgent.set(alert.alert_id, alert);
  else state.urgent.delete(alert.alert_id);
  if (!matches(alert)) state.alerts.delete(alert.alert_id);
  else state.alerts.set(alert.alert_id, alert);
  render();
  drawBoard();
}

function byUrgency(a, b) {
  return a.priority - b.priority || b.severity - a.severity
    || a.opened_at.localeCompare(b.opened_at) || a.alert_id - b.alert_id;
}

function render() {
  const alerts = [...state.alerts.values()];
  if (state.alarm) {
    state.alarm.update([...state.urgent.values()], (a) => t("console.alarm.body", { title: alertTitle(a), name: residentLabel(a) }));
  }
  const rows = alerts.sort(byUrgency).map(row);
  $("alert-rows").replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
  $("count").textContent = `(${rows.length})`;
}

function button(className, textId, onclick) {
  return el("button", { type: "button", className, onclick }, t(textId));
}

function residentLabel(alert) {
  if (alert.resident_name) return alert.resident_name;
  return alert.device_id ? t("console.band_label", { device_id: alert.device_id }) : t("console.system");
}

function row(alert) {
  const actions = el("td", { className: "actions" });
  if (alert.status === "open") {
    actions.append(button("ack", "console.action.acknowledge", () => acknowledge(alert.alert_id)));
  }
  actions.append(
    button("resolve", "console.action.resolve", () => resolve(alert.alert_id)),
    button("details", "console.action.details", () => showDetail(alert.alert_id)),
  );
  return el(
    "tr",
    {
      "data-alert-id": alert.alert_id, "data-status": alert.status,
      "data-priority": alert.priority, "data-rule": alert.rule,
      className: state.selected === alert.alert_id ? "selected" : "",
    },
    el("td", {}, t("console.priority", { priority: alert.priority })),
    el("td", {}, severityName(alert.severity)),
    el("td", { className: "title" }, alertTitle(alert)),
    el("td", { className: "resident" }, residentLabel(alert)),
    el("td", { className: "status" }, statusName(alert.status)),
    el("td", { className: "opened" }, localTime(alert.opened_at, alert.resident_timezone)),
    actions,
  );
}

// --- actions --------------------------------------------------------------------------

async function act(alertId, path, body) {
  showError("");
  try {
    applyAlert(await send(`/alerts/${alertId}/${path}`, body));
    if (state.selected === alertId) showDetail(alertId);
  } catch (error) {
    if (error.status === 401) return;
    showError(t("console.alerts.action_failed", { alert_id: alertId, message: error.message }));
    loadAlerts();
  }
}

function acknowledge(alertId) {
  return act(alertId, "acknowledge");
}

function ask(textId, initial = "") {
  const answer = window.prompt(t(textId), initial);
  return answer === null ? null : answer.trim();
}

function resolve(alertId) {
  const resolution = ask("console.prompt.resolution");
  if (!resolution) return null;
  return act(alertId, "resolve", { resolution });
}

function assign(alertId, current) {
  const assignee = ask("console.prompt.assignee", current || "");
  if (assignee === null) return null;
  return act(alertId, "assign", { assignee: assignee || null });
}

function note(alertId) {
  const text = ask("console.prompt.note");
  if (!text) return null;
  return act(alertId, "notes", { text });
}

// --- details --------------------------------------------------------------------------

function facts(pairs) {
  const list = el("dl", {});
  for (const [labelId, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(el("dt", {}, t(labelId)), el("dd", {}, value));
  }
  return list;
}

function place(lat, lon, acc) {
  const datum = state.map && state.map.datum === "gcj02" ? "GCJ-02" : "WGS-84";
  const params = { lat: Number(lat).toFixed(6), lon: Number(lon).toFixed(6), acc: Math.round(acc), datum };
  return t(acc == null ? "console.place" : "console.place_acc", params);
}

function yesNo(value) {
  if (value === null || value === undefined) return t("console.unknown");
  return t(value ? "console.yes" : "console.no");
}

function riskFlags(resident) {
  return ["living_alone", "disabled", "low_income"]
    .filter((flag) => resident[flag]).map((flag) => t(`risk.${flag}`)).join("、");
}

function residentFacts(r) {
  return [
    el("h3", {}, t("console.resident.heading")),
    facts([["console.resident.name", r.full_name], ["console.resident.born", r.birth_date],
      ["console.resident.sex", r.sex && t(`sex.${r.sex}`)], ["console.resident.address", r.address],
      ["console.resident.phone", r.phone], ["console.resident.risk", riskFlags(r)],
      ["console.resident.medical_notes", r.medical_notes]]),
    el("h3", {}, t("console.contacts.heading")),
    el("ul", {}, ...r.contacts.map((c) => el("li", {}, t("console.contacts.item", c)))),
  ];
}

function lastFacts(last, zone) {
  const fix = last.fix;
  const fixTime = fix && t("console.last.fix_age", {
    time: localTime(fix.t, zone), age: duration(fix.age_s), source: t(`fix_source.${fix.src}`),
  });
  return [el("h3", {}, t("console.last.heading")), facts([
    ["console.last.position", fix ? place(fix.lat, fix.lon, fix.acc_m) : t("console.last.no_fix")],
    ["console.last.fix_time", fixTime], ["console.last.band", last.device_id],
    ["console.last.online", yesNo(last.online)],
    ["console.last.battery", last.battery == null ? null : t("console.percent", { value: last.battery })]])];
}

async function showDetail(alertId) {
  state.selected = alertId;
  let alert, timeline;
  try {
    [alert, timeline] = await Promise.all([
      api(`/alerts/${alertId}?datum=${state.map ? state.map.datum : "wgs84"}`),
      api(`/alerts/${alertId}/timeline`),
    ]);
  } catch (error) {
    if (error.status !== 401) {
      showError(t("console.alerts.action_failed", { alert_id: alertId, message: error.message }));
    }
    return;
  }
  const zone = alert.resident_timezone;
  const actions = el("p", { className: "actions" });
  if (alert.status === "open") {
    actions.append(button("ack", "console.action.acknowledge", () => acknowledge(alertId)));
  }
  if (alert.status !== "resolved") {
    actions.append(
      button("assign", "console.action.assign", () => assign(alertId, alert.assignee)),
      button("note", "console.action.note", () => note(alertId)),
      button("resolve", "console.action.resolve", () => resolve(alertId)),
    );
  }
  const parts = [
    el("h2", {}, t("console.detail.heading", { title: alertTitle(alert), alert_id: alert.alert_id })),
    actions,
    facts([["console.detail.rule", ruleName(alert.rule)], ["console.detail.trigger", triggerText(alert)],
      ["console.detail.status", statusName(alert.status)], ["console.detail.assignee", alert.assignee],
      ["console.detail.observed", localTime(alert.first_seen_at, zone)],
      ["console.detail.occurrences", alert.occurrences],
      ["console.detail.position", alert.position && place(alert.position.lat, alert.position.lon, alert.position.acc_m)]]),
  ];
  const vitals = el("div", { id: "vitals" });
  if (alert.resident_id != null) {
    parts.push(el("h3", {}, t("console.vitals.heading", { hours: VITALS_HOURS })), vitals);
  }
  if (alert.resident) parts.push(...residentFacts(alert.resident));
  if (alert.last_location) parts.push(...lastFacts(alert.last_location, zone));
  const entries = timeline.items.map((entry) => el("li", {}, timelineText(entry, zone)));
  parts.push(el("h3", {}, t("console.timeline.heading")), el("ol", { id: "timeline" }, ...entries));
  $("detail").replaceChildren(...parts);
  $("detail").hidden = false;
  $("detail").dataset.alertId = String(alertId);
  render();
  if (state.map) focusResident(alert);
  if (alert.resident_id != null) loadVitals(alert, vitals);
}

async function loadVitals(alert, element) {
  const start = new Date(Date.now() - VITALS_HOURS * 3600 * 1000).toISOString();
  try {
    const history = await api(
      `/residents/${alert.resident_id}/vitals/history?start=${encodeURIComponent(start)}`);
    if (state.selected === alert.alert_id) drawVitals(element, history, alert.resident_timezone);
  } catch (error) {
    element.textContent = error.message;
  }
}

// --- live stream ----------------------------------------------------------------------

function setConn(kind) {
  state.conn = kind;
  $("conn").dataset.state = kind;
  $("conn").textContent = t(`console.conn.${kind}`);
}

function openStream() {
  if (state.source) state.source.close();
  const source = new EventSource("/alerts/stream"); // the session cookie authenticates it
  state.source = source;
  source.onopen = () => {
    setConn("live");
    loadAlerts(); // whatever changed while the stream was down
  };
  source.addEventListener("alert", (event) => {
    const message = JSON.parse(event.data);
    document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
    applyAlert(message.alert);
    if (state.selected === message.alert.alert_id) showDetail(message.alert.alert_id);
  });
  source.onerror = () => {
    if (state.source !== source || !token()) return;
    setConn("reconnecting");
    if (source.readyState === EventSource.CLOSED) {
      // Refused (e.g. the cookie expired): renew the session, then reopen.
      setTimeout(async () => {
        try {
          await api("/alerts/stream/session", { method: "POST" });
          if (token()) openStream();
        } catch (error) {
          if (error.status !== 401) setTimeout(openStream, 5000);
        }
      }, 3000);
    }
  };
}

async function start() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout(""));
  $("language").addEventListener("change", () => switchLanguage($("language").value, true));
  for (const id of ["filter-status", "filter-priority", "filter-grid", "filter-rule"]) {
    $(id).addEventListener("change", loadAlerts);
  }
  $("tab-alerts").addEventListener("click", () => showTab("alerts"));
  $("tab-residents").addEventListener("click", () => showTab("residents"));
  try {
    await loadCatalogue("auto");
  } catch (_) {
    applyTexts(document); // the ids themselves: better than an empty page
  }
  $("language").value = locale();
  setConn("offline");
  state.alarm = new Alarm($("alarm"), $("enable-sound"));
  document.body.dataset.ready = "1";
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
