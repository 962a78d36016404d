// The care page's other tabs: priority groups (suggestions to confirm, exports for home
// visits), early warnings, council decisions and the community's resource list.
// Every untrusted string is rendered as text (textContent / text nodes), never as HTML.
"use strict";

(() => {
  const GROUPS = ["living_alone", "disabled", "low_income"];

  function show(tab) {
    const { $ } = window.carePage;
    for (const button of document.querySelectorAll("#tabs button")) {
      button.setAttribute("aria-pressed", String(button.dataset.tab === tab));
    }
    for (const section of document.querySelectorAll("[data-section]")) {
      section.hidden = section.dataset.section !== tab;
    }
    $("error").textContent = "";
    const load = LOADERS[tab];
    if (load) load().catch((error) => { $("error").textContent = error.message; });
  }

  async function loadGroups() {
    const { api, el, t, $ } = window.carePage;
    const rows = await api("/care/groups/suggestions");
    $("suggestions").replaceChildren(...rows.map((s) => el("tr", { "data-suggestion": s.suggestion_id },
      el("td", {}, s.full_name),
      el("td", {}, t(`care.group.${s.grp}`)),
      el("td", {}, el("ul", { className: "reasons" }, ...s.explanation.map((line) => el("li", {}, line)))),
      el("td", {},
        el("button", { type: "button", "data-decision": "confirm", onclick: () => decide(s, "confirm") },
          t("care.page.confirm")),
        el("button", { type: "button", "data-decision": "reject", onclick: () => decide(s, "reject") },
          t("care.page.reject"))))));
    $("no-suggestions").hidden = rows.length > 0;
    $("exports").replaceChildren(...GROUPS.flatMap((group) => [
      el("span", {}, `${t(`care.group.${group}`)}: `),
      el("button", { type: "button", "data-export": `${group}.csv`, onclick: () => download(group, "csv") },
        t("care.page.export_csv")),
      el("button", { type: "button", "data-export": `${group}.xlsx`, onclick: () => download(group, "xlsx") },
        t("care.page.export_xlsx")),
      " ",
    ]));
  }

  async function decide(suggestion, decision) {
    const { api, $ } = window.carePage;
    try {
      await api(`/care/groups/suggestions/${suggestion.suggestion_id}/decide`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ decision }),
      });
      await loadGroups();
    } catch (error) {
      $("error").textContent = error.message;
    }
  }

  async function download(group, format) {
    const { $ } = window.carePage;
    const token = window.carePage.token();
    const response = await fetch(`/care/groups/${group}/export?format=${format}`,
      { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) {
      $("error").textContent = `HTTP ${response.status}`;
      return;
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `${group}.${format}`;
    link.click();
    URL.revokeObjectURL(link.href);
  }

  async function loadWarnings() {
    const { api, el, t, $ } = window.carePage;
    const rows = await api("/care/warnings");
    $("warnings").replaceChildren(...rows.map((w) => el("li", { "data-alert": w.alert_id },
      el("strong", {}, w.title), el("br"), w.explanation, el("br"),
      el("small", {}, `${t("care.page.opened")} ${w.opened_at.slice(0, 16).replace("T", " ")}`))));
    $("no-warnings").hidden = rows.length > 0;
  }

  async function loadCouncils() {
    const { api, el, t, $ } = window.carePage;
    const rows = await api("/councils/public");
    $("decisions").replaceChildren(...rows.map((d) => el("tr", { "data-topic": d.topic_id,
      "data-overdue": d.overdue },
    el("td", {}, d.title, el("br"), el("small", {}, d.status_text)),
    el("td", {}, d.votes_for === null ? "" : `${d.votes_for} / ${d.votes_against} / ${d.votes_abstain}`),
    el("td", {}, d.task_title || ""),
    el("td", {}, d.owner_name || ""),
    el("td", {}, d.due_on || "", d.overdue ? el("div", { className: "error" }, t("care.page.overdue")) : ""),
    el("td", {}, d.task_status_text || "", el("br"), d.progress_note || ""))));
    $("no-decisions").hidden = rows.length > 0;
  }

  function offer(o) {
    const { el, t } = window.carePage;
    const notes = [t(`care.page.offer.${o.category}`)];
    if (o.discount_pct) notes.push(t("care.page.discount").replace("{pct}", o.discount_pct));
    if (o.capacity_per_week) notes.push(t("care.page.capacity").replace("{n}", o.capacity_per_week));
    if (o.opening_hours) notes.push(o.opening_hours);
    return el("li", { "data-offer": o.offer_id }, el("strong", {}, o.title), ` (${notes.join("，")})`);
  }

  async function loadPartners() {
    const { api, el, t, $ } = window.carePage;
    const rows = await api("/partners");
    $("partners").replaceChildren(...rows.map((p) => el("tr", { "data-partner": p.partner_id },
      el("td", {}, p.name, el("br"), el("small", {}, t(`care.page.partner.${p.kind}`))),
      el("td", {}, p.phone, el("br"), p.address),
      el("td", {}, el("ul", { className: "reasons" }, ...p.offers.map(offer))))));
    $("no-partners").hidden = rows.length > 0;
  }

  const LOADERS = { groups: loadGroups, warnings: loadWarnings, councils: loadCouncils,
    partners: loadPartners };

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("#tabs button")) {
      button.addEventListener("click", () => show(button.dataset.tab));
    }
  });
})();
