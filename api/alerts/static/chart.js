// Vital-sign charts (uPlot, vendored): heart rate, blood pressure and steps over time, each
// with the resident's alert thresholds drawn as dashed lines. Times in the resident's zone.
"use strict";

import { localTime, t } from "./i18n.js";

const WIDTH_PAD = 8;
const HEIGHT = 120;

function times(items) {
  return items.map((b) => Date.parse(b.t) / 1000);
}

function flat(items, value) {
  return items.map(() => value);
}

function line(label, stroke, extra = {}) {
  return { label, stroke, width: 1.5, spanGaps: true, points: { show: false }, ...extra };
}

function threshold(label) {
  return line(label, "#c0141c", { dash: [6, 4], width: 1 });
}

/** Draw the three charts of `history` (GET /residents/{id}/vitals/history) into `element`. */
export function drawVitals(element, history, timeZone) {
  const uPlot = window.uPlot;
  element.replaceChildren();
  const items = history.items;
  element.dataset.buckets = String(items.length);
  if (!items.length) {
    element.textContent = t("chart.no_data");
    return;
  }
  const x = times(items);
  const th = history.thresholds;
  const width = Math.max(240, element.clientWidth - WIDTH_PAD);
  const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone || "Asia/Shanghai");
  const charts = [
    {
      name: "hr",
      title: t("chart.hr"),
      series: [line(t("chart.hr_avg"), "#1d5fa8"), line(t("chart.hr_max"), "#7aa6d8"),
        threshold(t("chart.tachycardia")), threshold(t("chart.bradycardia"))],
      data: [items.map((b) => b.hr_avg), items.map((b) => b.hr_max),
        flat(items, th.tachycardia_bpm), flat(items, th.bradycardia_bpm)],
    },
    {
      name: "bp",
      title: t("chart.bp"),
      series: [line(t("chart.sbp"), "#b36b00"), line(t("chart.dbp"), "#6a3fb5"),
        threshold(t("chart.crisis_sbp")), threshold(t("chart.crisis_dbp"))],
      data: [items.map((b) => b.sbp_max), items.map((b) => b.dbp_max),
        flat(items, th.crisis_sbp), flat(items, th.crisis_dbp)],
    },
    {
      name: "steps",
      title: t("chart.steps"),
      series: [line(t("chart.steps"), "#1d7a3a")],
      data: [items.map((b) => b.steps)],
    },
  ];
  for (const chart of charts) {
    const box = document.createElement("div");
    box.className = `vitals-chart vitals-${chart.name}`;
    element.append(box);
    // eslint-disable-next-line no-new
    new uPlot({
      title: chart.title, width, height: HEIGHT, tzDate,
      scales: { x: { time: true } },
      axes: [{ values: (_u, splits) => splits.map((ts) => localTime(ts * 1000, timeZone).slice(11)) },
        { size: 40 }],
      series: [{}, ...chart.series],
    }, [x, ...chart.data], box);
  }
}
