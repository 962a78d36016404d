// Alerts in words: rule names, titles, trigger values and timeline entries from the catalogue.
// Titles are translated here at the edge from the rule and the finding's details; the
// engine's English title is shown only for a rule the catalogue does not know.
"use strict";

import { duration, has, localTime, t } from "./i18n.js";

export function ruleName(rule) {
  return has(`rule.${rule}.name`) ? t(`rule.${rule}.name`) : rule;
}

export function alertTitle(alert) {
  return has(`rule.${alert.rule}.title`) ? t(`rule.${alert.rule}.title`) : alert.title;
}

const round = (value, digits = 0) => (value == null ? "" : Number(value).toFixed(digits));

/** What set the alert off, e.g. "心率 138 次/分，已持续 12 分钟"; "" when nothing to say. */
export function triggerText(alert) {
  const d = alert.details || {};
  const zone = alert.resident_timezone;
  const params = {
    hr_bpm: round(d.hr_bpm),
    baseline_bpm: round(d.baseline_bpm),
    sbp_mmhg: round(d.sbp_mmhg),
    dbp_mmhg: round(d.dbp_mmhg),
    battery_pct: round(d.battery_pct),
    fixes_outside: d.fixes_outside,
    held: duration(d.held_s),
    time: localTime(d.last_seen_ms ?? d.off_since_ms ?? d.since_ms ?? d.outside_since_ms, zone),
  };
  if (alert.rule === "sos" || alert.rule === "fall") return t("trigger.event");
  return has(`trigger.${alert.rule}`) ? t(`trigger.${alert.rule}`, params) : "";
}

/** Who a page went to, e.g. "duty_console、gateway_120" -> "值班台、120 急救中心". */
export function targetNames(targets) {
  if (!Array.isArray(targets)) return "";
  return targets.map((target) => (has(`target.${target}`) ? t(`target.${target}`) : target)).join("、");
}

export function severityName(severity) {
  return t(`severity.${severity}`);
}

export function statusName(status) {
  return t(`status.${status}`);
}

export function actorName(entry) {
  if (entry.actor_name) return entry.actor_name;
  const [kind, id] = entry.actor.split(":");
  if (kind === "account") return t("actor.account", { account_id: id });
  return has(`actor.${kind}`) ? t(`actor.${kind}`) : entry.actor;
}

const SEVERITY_OF_NAME = { low: 1, medium: 2, high: 3, critical: 4 };

/** One timeline entry as a sentence: "2026-12-01 06:28 王芳 确认了告警". */
export function timelineText(entry, zone) {
  const d = entry.data || {};
  let kind = entry.kind;
  if (kind === "assigned" && !d.assignee) kind = "unassigned";
  const params = {
    ...d,
    severity: d.to ? t(`severity.${SEVERITY_OF_NAME[d.to]}`) : "",
    targets: targetNames(d.targets),
    why: d.why ? t(`status.${d.why}`) : "",
    kind: entry.kind,
  };
  const what = has(`timeline.${kind}`) ? t(`timeline.${kind}`, params) : t("timeline.other", params);
  return t("console.timeline.entry", { time: localTime(entry.at, zone), actor: actorName(entry), what });
}
