// Public board: how a month's requests were handled, by category. No login, no personal data.
// Texts come from the message catalogue (/requests-console/texts); data is rendered as text.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let T = {};
  const t = (id, params = {}) =>
    (T[id] || id).replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ""));
  const pct = (x) => (x === null || x === undefined ? "—" : `${Math.round(x * 100)}%`);

  async function loadTexts() {
    const wanted = new URLSearchParams(location.search).get("locale");
    const query = wanted ? `?locale=${encodeURIComponent(wanted)}` : "";
    const catalogue = await (await fetch(`/requests-console/texts${query}`)).json();
    T = catalogue.texts;
    document.documentElement.lang = catalogue.locale === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-t]").forEach((node) => { node.textContent = t(node.dataset.t); });
  }

  async function load() {
    $("error").textContent = "";
    const response = await fetch(`/board/requests?month=${encodeURIComponent($("month").value)}`);
    if (!response.ok) {
      $("error").textContent = t("request.page.load_failed", { error: response.status });
      return;
    }
    const data = await response.json();
    const zh = !document.documentElement.lang.startsWith("en");
    const rows = data.categories.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.category = c.category;
      const median = c.first_response_median_s;
      const cells = [
        zh ? c.name.zh_CN : c.name.en,
        c.requests,
        pct(c.answered_24h_share),
        pct(c.resolution_rate),
        median === null ? "—" : t("request.page.hours", { hours: (median / 3600).toFixed(1) }),
        pct(c.reopen_rate),
        c.satisfaction === null ? "—" : `${c.satisfaction.toFixed(1)} / 5 (${c.rated})`,
      ];
      for (const value of cells) {
        const td = document.createElement("td");
        td.textContent = String(value);
        tr.append(td);
      }
      return tr;
    });
    $("rows").replaceChildren(...rows);
    $("empty").hidden = rows.length > 0;
    document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await loadTexts();
    const params = new URLSearchParams(location.search);
    const now = new Date();
    $("month").value = params.get("month") ||
      `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
    $("month").addEventListener("change", load);
    await load();
  });
})();
