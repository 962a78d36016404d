// Texts and times for the pages, from the server's one message catalogue (/i18n/{locale}.json).
// A page marks its fixed texts with data-i18n="id"; code calls t("id", {param: value}).
"use strict";

const state = { locale: "zh_CN", messages: {} };
export const DEFAULT_TIME_ZONE = "Asia/Shanghai";

export function locale() {
  return state.locale;
}

/** Load the catalogue of `wanted` ("zh_CN", "en" or "auto" for the browser's choice). */
export async function loadCatalogue(wanted) {
  const response = await fetch(`/i18n/${wanted || "auto"}.json`);
  if (!response.ok) throw new Error(`catalogue ${wanted}: HTTP ${response.status}`);
  const body = await response.json();
  state.locale = body.locale;
  state.messages = body.messages;
  document.documentElement.lang = body.locale === "zh_CN" ? "zh-CN" : body.locale;
  applyTexts(document);
  return body.locale;
}

/** The text of `id` with its {placeholders} filled; the id itself if the catalogue lacks it. */
export function t(id, params = {}) {
  const template = state.messages[id];
  if (template === undefined) return id;
  return template.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

/** True when the catalogue has `id` (for texts chosen from data, such as a rule name). */
export function has(id) {
  return Object.prototype.hasOwnProperty.call(state.messages, id);
}

/** Every message id that starts with `prefix` (e.g. "rule." for the rules known). */
export function idsStartingWith(prefix) {
  return Object.keys(state.messages).filter((id) => id.startsWith(prefix));
}

/** Fill every element marked data-i18n (text) or data-i18n-title / -placeholder. */
export function applyTexts(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
}

/** `YYYY-MM-DD HH:MM`, 24-hour, in the resident's zone (Asia/Shanghai when unknown). */
export function localTime(iso, timeZone) {
  if (!iso) return "";
  const moment = typeof iso === "number" ? new Date(iso) : new Date(iso);
  let parts;
  try {
    parts = formatter(timeZone || DEFAULT_TIME_ZONE).formatToParts(moment);
  } catch (_) {
    parts = formatter(DEFAULT_TIME_ZONE).formatToParts(moment);
  }
  const p = Object.fromEntries(parts.map((part) => [part.type, part.value]));
  const hour = p.hour === "24" ? "00" : p.hour;
  return `${p.year}-${p.month}-${p.day} ${hour}:${p.minute}`;
}

const formatters = new Map();
function formatter(timeZone) {
  if (!formatters.has(timeZone)) {
    formatters.set(timeZone, new Intl.DateTimeFormat("en-GB", {
      timeZone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }));
  }
  return formatters.get(timeZone);
}

/** A duration in words: "12 分钟" / "12 min". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 120) return t("duration.seconds", { n: s });
  if (s < 7200) return t("duration.minutes", { n: Math.round(s / 60) });
  return t("duration.hours", { n: Math.round(s / 3600) });
}

/** The message a person reads for an API error body ({error: {code, message}}). */
export function errorText(status, body) {
  const code = body && body.error && body.error.code;
  if (code && has(`error.${code}`)) return t(`error.${code}`);
  return t("error.http_status", { status });
}
