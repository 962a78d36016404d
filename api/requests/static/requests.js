// Requests console: the queue by urgency and age, a request's detail with its timeline,
// history and departments, and the actions. Texts come from the message catalogue
// (/requests-console/texts); every untrusted string is rendered as text, never as HTML.
"use strict";

(() => {
  const CATEGORIES = ["facilities", "heating", "sanitation", "living_help", "safety", "neighbours", "other"];
  const DEPARTMENTS = ["property", "city_management", "police", "civil_affairs", "heating_company"];
  const state = { token: null, list: "", selected: null };
  const $ = (id) => document.getElementById(id);
  let T = {};
  const t = (id, params = {}) =>
    (T[id] || id).replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ""));

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key.startsWith("data-")) node.setAttribute(key, String(value));
      else node[key] = value;
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
    return node;
  }

  // YYYY-MM-DD HH:MM in Asia/Shanghai, as every text people read.
  function when(iso) {
    if (!iso) return "";
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date(iso));
    const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options = { ...options, body: JSON.stringify(options.json) };
    }
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) {
      logout(t("request.page.session_ended"));
      throw new ApiError(401, "not authenticated");
    }
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try { message = (await response.json()).error.message || message; } catch (_) { /* not JSON */ }
      throw new ApiError(response.status, message);
    }
    return response.json();
  }

  async function loadTexts() {
    const wanted = new URLSearchParams(location.search).get("locale");
    const query = wanted ? `?locale=${encodeURIComponent(wanted)}` : "";
    const catalogue = await (await fetch(`/requests-console/texts${query}`)).json();
    T = catalogue.texts;
    document.documentElement.lang = catalogue.locale === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-t]").forEach((node) => { node.textContent = t(node.dataset.t); });
  }

  async function login(event) {
    event.preventDefault();
    $("login-error").textContent = "";
    const body = new URLSearchParams({ username: $("username").value, password: $("password").value });
    const response = await fetch("/auth/token", { method: "POST", body });
    if (!response.ok) {
      $("login-error").textContent = t("request.page.login_failed");
      return;
    }
    state.token = (await response.json()).access_token;
    $("password").value = "";
    $("login-view").hidden = true;
    $("console-view").hidden = false;
    $("logout").hidden = false;
    await loadQueue();
  }

  function logout(message) {
    state.token = null;
    state.selected = null;
    $("console-view").hidden = true;
    $("logout").hidden = true;
    $("detail").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
  }

  // --- the queue ------------------------------------------------------------------------

  function flags(r) {
    const out = [];
    if (r.difficult_since) out.push(["difficult", t("request.page.flag_difficult")]);
    if (r.urgency === 1) out.push(["promise", t("request.page.flag_promise")]);
    if (r.repeat_of) out.push(["repeat", t("request.page.flag_repeat")]);
    if (r.reopen_count) out.push(["reopened", t("request.page.flag_reopened", { count: r.reopen_count })]);
    return out.map(([kind, text]) => el("span", { className: "flag", "data-kind": kind }, text));
  }

  async function loadQueue() {
    if (!state.token) return;
    $("error").textContent = "";
    const list = state.list ? `&list=${state.list}` : "";
    try {
      const page = await api(`/requests?status=open&status=acknowledged&limit=100${list}`);
      const rows = page.items.map((r) => {
        const tr = el("tr", { "data-id": r.request_id, "data-urgency": r.urgency },
          el("td", {}, r.number, ...flags(r)),
          el("td", {}, t(`request.category.${r.category}`)),
          el("td", {}, r.address),
          el("td", {}, t(`request.status.${r.status}`)),
          el("td", {}, t("request.page.hours", { hours: r.age_h.toFixed(1) })),
          el("td", {}, when(r.opened_at)));
        if (r.request_id === state.selected) tr.className = "selected";
        tr.addEventListener("click", () => showDetail(r.request_id));
        return tr;
      });
      $("rows").replaceChildren(...rows);
      $("empty").hidden = rows.length > 0;
      document.body.dataset.queueLoads = String(Number(document.body.dataset.queueLoads || 0) + 1);
    } catch (error) {
      if (error.status !== 401) $("error").textContent = t("request.page.load_failed", { error: error.message });
    }
  }

  // --- the detail -----------------------------------------------------------------------

  function describe(entry) {
    const d = entry.data || {};
    const parts = [t(`request.event.${entry.kind}`)];
    if (d.targets) parts.push(d.targets.map((x) => t(`target.${x}`)).join("、"));
    if (d.target) parts.push(t(`target.${d.target}`));
    if (d.reason) parts.push(d.reason);
    if (d.why) parts.push(t(`request.status.${d.why}`));
    if (d.responsible && d.responsible.length) parts.push(d.responsible.map((p) => p.full_name || `#${p.account_id}`).join("、"));
    for (const key of ["text", "resolution", "report", "comment"]) if (d[key]) parts.push(d[key]);
    if (d.score) parts.push(`${d.score}/5`);
    if (d.category) parts.push(t(`request.category.${d.category}`));
    if (d.department) parts.push(d.department);
    if (d.departments) parts.push(d.departments.map((x) => x.department).join("、"));
    return parts.join(" · ");
  }

  function actionForm(label, fields, submit) {
    const form = el("form", {}, ...fields, el("button", { type: "submit" }, label));
    form.dataset.action = label;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await submit();
        await showDetail(state.selected);
        await loadQueue();
      } catch (error) {
        if (error.status !== 401) $("error").textContent = t("request.page.action_failed", { error: error.message });
      }
    });
    return form;
  }

  function actions(r) {
    const id = r.request_id;
    const reply = el("textarea", { rows: 2, maxLength: 1000, required: true, name: "reply" });
    const note = el("textarea", { rows: 2, maxLength: 1000, required: true, name: "note" });
    const resolution = el("textarea", { rows: 2, maxLength: 1000, required: true, name: "resolution" });
    const category = el("select", { name: "category" },
      ...CATEGORIES.map((c) => el("option", { value: c, selected: c === r.category }, t(`request.category.${c}`))));
    const dept = el("select", { name: "department" },
      ...DEPARTMENTS.map((c) => el("option", { value: c }, c)));
    const hours = el("input", { type: "number", min: 1, max: 720, value: 24, name: "due_hours" });
    const out = [];
    if (r.status === "open") {
      out.push(actionForm(t("request.page.acknowledge"), [],
        () => api(`/requests/${id}/acknowledge`, { method: "POST" })));
    }
    out.push(actionForm(t("request.page.reply"), [reply],
      () => api(`/requests/${id}/replies`, { method: "POST", json: { text: reply.value, public: true } })));
    out.push(actionForm(t("request.page.note"), [note],
      () => api(`/requests/${id}/replies`, { method: "POST", json: { text: note.value, public: false } })));
    if (r.status !== "resolved") {
      out.push(actionForm(t("request.page.resolve"), [resolution],
        () => api(`/requests/${id}/resolve`, { method: "POST", json: { resolution: resolution.value } })));
      out.push(actionForm(t("request.page.summon"), [dept, el("label", {}, t("request.page.due_hours"), hours)],
        () => api(`/requests/${id}/departments`, {
          method: "POST", json: { departments: [{ code: dept.value, due_hours: Number(hours.value) }] },
        })));
    }
    out.push(actionForm(t("request.page.set_category"), [category],
      () => api(`/requests/${id}/category?category=${encodeURIComponent(category.value)}`, { method: "PUT" })));
    return out;
  }

  async function showDetail(requestId) {
    state.selected = requestId;
    document.querySelectorAll("#rows tr").forEach((tr) => {
      tr.className = Number(tr.dataset.id) === requestId ? "selected" : "";
    });
    try {
      const [r, timeline, departments] = await Promise.all([
        api(`/requests/${requestId}`),
        api(`/requests/${requestId}/timeline`),
        api(`/requests/${requestId}/departments`),
      ]);
      const suggestion = await api(`/requests/suggestion?text=${encodeURIComponent(r.text)}`);
      const facts = [
        ["request.page.col_number", r.number],
        ["request.page.col_category", t(`request.category.${r.category}`)],
        ["request.page.text", r.text],
        ["request.page.col_address", r.address],
        ["request.page.resident", r.resident_name || ""],
        ["request.page.phone", r.resident_phone || ""],
        ["request.page.channel", t(`request.channel.${r.channel}`)],
        ["request.page.col_status", t(`request.status.${r.status}`)],
        ["request.page.col_opened", when(r.opened_at)],
      ];
      $("detail").replaceChildren(
        el("h2", {}, t("request.page.detail"), " ", r.number, ...flags(r)),
        el("dl", {}, ...facts.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)])),
        el("p", { id: "suggestion" }, t("request.page.suggestion", {
          category: t(`request.category.${suggestion.category}`), confidence: suggestion.confidence,
        })),
        ...actions(r),
        el("h3", {}, t("request.page.timeline")),
        el("ol", { id: "timeline" }, ...timeline.items.map((e) =>
          el("li", { "data-kind": e.kind }, when(e.at), " ", describe(e)))),
        el("h3", {}, t("request.page.departments")),
        el("ul", { id: "departments" }, ...departments.map((d) =>
          el("li", { className: d.overdue ? "overdue" : "" }, d.name, " ",
            t("request.page.due", { due: when(d.due_at) }), " ",
            d.overdue ? t("request.page.overdue") : d.reported_at ? t("request.page.reported") : ""))),
        el("h3", {}, t("request.page.history")),
        el("ul", { id: "history" }, ...r.history.map((h) =>
          el("li", {}, h.number, " ", t(`request.category.${h.category}`), " ", t(`request.status.${h.status}`),
            " ", when(h.opened_at)))),
      );
      $("detail").hidden = false;
    } catch (error) {
      if (error.status !== 401) $("error").textContent = t("request.page.load_failed", { error: error.message });
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await loadTexts();
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => logout(""));
    document.querySelectorAll("nav button").forEach((button) => {
      button.addEventListener("click", async () => {
        state.list = button.dataset.list;
        document.querySelectorAll("nav button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
        await loadQueue();
      });
    });
    document.body.dataset.ready = "1";
  });
})();
