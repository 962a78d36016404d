// Daily check list: who to call or visit today and why; record each call or visit.
// Every untrusted string is rendered as text (textContent / text nodes), never as HTML.
"use strict";

(() => {
  const state = { token: null, texts: {} };
  const $ = (id) => document.getElementById(id);
  const t = (id) => state.texts[id] || id;
  const ACTIONS = [
    ["call", "reached", "care.page.call_reached"],
    ["call", "not_reached", "care.page.call_not_reached"],
    ["visit", "reached", "care.page.visit_reached"],
    ["visit", "not_reached", "care.page.visit_not_reached"],
  ];

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key.startsWith("data-")) node.setAttribute(key, String(value));
      else node[key] = value;
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
    return node;
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) {
      state.token = null;
      $("list-view").hidden = true;
      $("login-view").hidden = false;
      $("login-error").textContent = t("care.page.session_ended");
      throw new Error("not authenticated");
    }
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try { message = (await response.json()).error.message || message; } catch (_) { /* */ }
      throw new Error(message);
    }
    return response.json();
  }

  async function loadTexts() {
    state.texts = await (await fetch("/care/texts")).json();
    for (const node of document.querySelectorAll("[data-text]")) {
      node.textContent = t(node.getAttribute("data-text"));
    }
  }

  function row(item) {
    const reasons = el("ul", { className: "reasons" },
      ...item.reasons.map((r) => el("li", { "data-code": r.code }, r.text)));
    const who = el("td", {}, el("strong", {}, item.full_name), el("br"), item.phone || "",
      el("br"), item.address || "");
    if (item.handler === "grid_worker") {
      who.append(" ", el("span", { className: "badge" }, t("care.page.handler.grid_worker")));
    }
    const last = item.last_contact_local
      ? `${item.last_contact_local} ${t(`care.page.outcome.${item.last_outcome}`)}` : "";
    const done = item.done_today ? el("div", {}, t("care.page.done_today")) : "";
    const actions = el("td", {}, ...ACTIONS.map(([kind, outcome, label]) => el("button", {
      type: "button",
      "data-kind": kind,
      "data-outcome": outcome,
      onclick: () => record(item, kind, outcome),
    }, t(label))));
    return el("tr", { "data-resident": item.resident_id, "data-handler": item.handler,
      "data-done": item.done_today }, who, el("td", {}, reasons), el("td", {}, last, done), actions);
  }

  async function record(item, kind, outcome) {
    try {
      await api(`/care/residents/${item.resident_id}/contacts`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ kind, outcome, reasons: item.reasons.map((r) => r.code) }),
      });
      await refresh();
    } catch (error) {
      $("error").textContent = error.message;
    }
  }

  async function refresh() {
    const body = await api("/care/daily");
    const until = body.data_until_local || t("care.page.no_rollup");
    $("generated").textContent = `${t("care.page.generated")} ${body.generated_local} · `
      + `${t("care.page.data_until")} ${until}`;
    $("rows").replaceChildren(...body.items.map(row));
    $("empty").hidden = body.items.length > 0;
    $("error").textContent = "";
  }

  async function login(event) {
    event.preventDefault();
    const form = new URLSearchParams({ username: $("username").value, password: $("password").value });
    const response = await fetch("/auth/token", { method: "POST", body: form });
    if (!response.ok) {
      $("login-error").textContent = `HTTP ${response.status}`;
      return;
    }
    state.token = (await response.json()).access_token;
    $("login-view").hidden = true;
    $("list-view").hidden = false;
    try { await refresh(); } catch (error) { $("error").textContent = error.message; }
  }

  // The other tabs (sections.js) share the session, the API call and the texts.
  window.carePage = { api, el, t, $, token: () => state.token };

  document.addEventListener("DOMContentLoaded", async () => {
    $("login-form").addEventListener("submit", login);
    await loadTexts();
  });
})();
