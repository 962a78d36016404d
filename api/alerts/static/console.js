// Duty console: login, unresolved alerts by priority, live updates over SSE, actions.
// Every untrusted string is rendered as text (textContent / text nodes), never as HTML.
"use strict";

(() => {
  const SEVERITY = { 1: "low", 2: "medium", 3: "high", 4: "critical" };
  const LIST_URL = "/alerts?status=open&status=acknowledged&order=priority&limit=100";
  const POLL_MS = 60000; // safety net only; live updates come over the stream
  const state = { token: null, alerts: new Map(), source: null, selected: null, timers: [] };
  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key.startsWith("data-")) node.setAttribute(key, String(value));
      else node[key] = value;
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : String(child ?? ""));
    }
    return node;
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  function showError(message) {
    $("error").textContent = message || "";
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
    const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
    if (response.status === 401) {
      logout("Your session has ended; please log in again.");
      throw new ApiError(401, "not authenticated");
    }
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        message = (await response.json()).error.message || message;
      } catch (_) { /* not JSON */ }
      throw new ApiError(response.status, message);
    }
    return response.status === 204 ? null : response.json();
  }

  // --- login / logout ---------------------------------------------------------------------

  async function login(event) {
    event.preventDefault();
    $("login-error").textContent = "";
    const body = new URLSearchParams({ username: $("username").value, password: $("password").value });
    const response = await fetch("/auth/token", { method: "POST", body });
    if (!response.ok) {
      $("login-error").textContent = "Wrong username or password (or too many attempts).";
      return;
    }
    state.token = (await response.json()).access_token;
    $("password").value = "";
    try {
      await api("/alerts/stream/session", { method: "POST" });
    } catch (error) {
      $("login-error").textContent = error.status === 403
        ? "This account has no alert console." : `Cannot start: ${error.message}`;
      state.token = null;
      return;
    }
    $("login-view").hidden = true;
    $("console-view").hidden = false;
    $("logout").hidden = false;
    await loadAlerts();
    openStream();
    state.timers.push(setInterval(loadAlerts, POLL_MS));
  }

  function logout(message) {
    if (state.source) state.source.close();
    state.source = null;
    state.timers.forEach(clearInterval);
    state.timers = [];
    if (state.token) fetch("/alerts/stream/session", { method: "DELETE" });
    state.token = null;
    state.alerts.clear();
    state.selected = null;
    setConn("offline");
    $("console-view").hidden = true;
    $("logout").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
  }

  // --- the list -------------------------------------------------------------------------

  async function loadAlerts() {
    if (!state.token) return;
    try {
      const page = await api(LIST_URL);
      state.alerts = new Map(page.items.map((alert) => [alert.alert_id, alert]));
      render();
      document.body.dataset.listLoads = String(Number(document.body.dataset.listLoads || 0) + 1);
      showError(page.next_offset ? "More than 100 unresolved alerts: only the first 100 shown." : "");
    } catch (error) {
      if (error.status !== 401) showError(`Could not load alerts: ${error.message}`);
    }
  }

  function applyAlert(alert) {
    if (alert.status === "resolved") state.alerts.delete(alert.alert_id);
    else state.alerts.set(alert.alert_id, alert);
    render();
  }

  function byUrgency(a, b) {
    return a.priority - b.priority || b.severity - a.severity
      || a.opened_at.localeCompare(b.opened_at) || a.alert_id - b.alert_id;
  }

  function render() {
    const rows = [...state.alerts.values()].sort(byUrgency).map(row);
    $("alert-rows").replaceChildren(...rows);
    $("empty").hidden = rows.length > 0;
    $("count").textContent = `(${rows.length})`;
  }

  function row(alert) {
    const actions = el("td", {});
    if (alert.status === "open") {
      actions.append(el("button", { type: "button", className: "ack", onclick: () => acknowledge(alert.alert_id) }, "Acknowledge"));
    }
    actions.append(
      el("button", { type: "button", className: "resolve", onclick: () => resolve(alert.alert_id) }, "Resolve"),
      el("button", { type: "button", className: "details", onclick: () => showDetail(alert.alert_id) }, "Details"),
    );
    const who = alert.resident_name ?? (alert.device_id ? `band ${alert.device_id}` : "system");
    return el(
      "tr",
      { "data-alert-id": alert.alert_id, "data-status": alert.status, "data-priority": alert.priority },
      el("td", {}, `P${alert.priority}`),
      el("td", {}, SEVERITY[alert.severity] || String(alert.severity)),
      el("td", { className: "title" }, alert.title),
      el("td", { className: "resident" }, who),
      el("td", { className: "status" }, alert.status),
      el("td", {}, when(alert.opened_at)),
      actions,
    );
  }

  // --- actions --------------------------------------------------------------------------

  async function act(alertId, path, body) {
    showError("");
    try {
      const options = { method: "POST" };
      if (body) {
        options.body = JSON.stringify(body);
        options.headers = { "Content-Type": "application/json" };
      }
      applyAlert(await api(`/alerts/${alertId}/${path}`, options));
      if (state.selected === alertId) showDetail(alertId);
    } catch (error) {
      if (error.status === 401) return;
      showError(`Alert ${alertId}: ${error.message}`);
      loadAlerts();
    }
  }

  function acknowledge(alertId) {
    return act(alertId, "acknowledge");
  }

  function resolve(alertId) {
    const resolution = window.prompt("How was this resolved?", "");
    if (resolution === null || resolution.trim() === "") return null;
    return act(alertId, "resolve", { resolution: resolution.trim() });
  }

  // --- details --------------------------------------------------------------------------

  function facts(pairs) {
    const list = el("dl", {});
    for (const [label, value] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      list.append(el("dt", {}, label), el("dd", {}, value));
    }
    return list;
  }

  function place(lat, lon, acc) {
    const where = `${Number(lat).toFixed(6)}, ${Number(lon).toFixed(6)} (WGS-84)`;
    return acc == null ? where : `${where} ±${Math.round(acc)} m`;
  }

  async function showDetail(alertId) {
    state.selected = alertId;
    let alert, timeline;
    try {
      [alert, timeline] = await Promise.all([
        api(`/alerts/${alertId}`),
        api(`/alerts/${alertId}/timeline`),
      ]);
    } catch (error) {
      if (error.status !== 401) showError(`Alert ${alertId}: ${error.message}`);
      return;
    }
    const parts = [el("h2", {}, `${alert.title} (alert ${alert.alert_id})`),
      facts([["Rule", alert.rule], ["Status", alert.status], ["Assignee", alert.assignee],
        ["Observed", when(alert.first_seen_at)], ["Occurrences", alert.occurrences],
        ["Alert position", alert.position && place(alert.position.lat, alert.position.lon, alert.position.acc_m)]])];
    const r = alert.resident;
    if (r) {
      parts.push(el("h3", {}, "Resident"), facts([["Name", r.full_name], ["Born", r.birth_date],
        ["Sex", r.sex], ["Address", r.address], ["Phone", r.phone],
        ["Lives alone", r.living_alone ? "yes" : "no"], ["Medical notes", r.medical_notes]]));
      const contacts = el("ul", {}, ...r.contacts.map((c) => el("li", {}, `${c.name} (${c.relation}): ${c.phone}`)));
      parts.push(el("h3", {}, "Emergency contacts"), contacts);
    }
    const last = alert.last_location;
    if (last) {
      const fix = last.fix;
      parts.push(el("h3", {}, "Last position"), facts([
        ["Position", fix ? place(fix.lat, fix.lon, fix.acc_m) : "no fix known"],
        ["Fix time", fix && `${when(fix.t)} (${Math.round(fix.age_s)} s ago, ${fix.src})`],
        ["Band", last.device_id], ["Online", last.online === null ? "unknown" : (last.online ? "yes" : "no")],
        ["Battery", last.battery === null ? null : `${last.battery} %`]]));
    }
    const entries = timeline.items.map((e) => el("li", {},
      `${when(e.at)} ${e.kind} by ${e.actor}${Object.keys(e.data).length ? " " + JSON.stringify(e.data) : ""}`));
    parts.push(el("h3", {}, "Timeline"), el("ol", {}, ...entries));
    $("detail").replaceChildren(...parts);
    $("detail").hidden = false;
  }

  // --- live stream ----------------------------------------------------------------------

  function setConn(kind) {
    $("conn").dataset.state = kind;
    $("conn").textContent = { live: "live", reconnecting: "reconnecting…", offline: "offline" }[kind];
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
      if (state.source !== source || !state.token) return;
      setConn("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // Refused (e.g. the cookie expired): renew the session, then reopen.
        setTimeout(async () => {
          try {
            await api("/alerts/stream/session", { method: "POST" });
            if (state.token) openStream();
          } catch (error) {
            if (error.status !== 401) setTimeout(openStream, 5000);
          }
        }, 3000);
      }
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => logout(""));
  });
})();
