// Calls to the API with the page's bearer token; errors carry a text a person can read.
"use strict";

import { errorText, t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const session = { token: null, onExpired: () => {} };

export function setToken(token, onExpired) {
  session.token = token;
  if (onExpired) session.onExpired = onExpired;
}

export function token() {
  return session.token;
}

/** Log in with the OAuth2 password flow; the token, or null when refused. */
export async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  const response = await fetch("/auth/token", { method: "POST", body });
  if (!response.ok) return null;
  return (await response.json()).access_token;
}

/** JSON from an API path; throws ApiError with a translated message. */
export async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${session.token}`, ...(options.headers || {}) };
  let response;
  try {
    response = await fetch(path, { ...options, headers, credentials: "same-origin" });
  } catch (_) {
    throw new ApiError(0, t("error.network"));
  }
  if (response.status === 401) {
    session.onExpired();
    throw new ApiError(401, t("error.unauthorized"));
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, errorText(response.status, body));
  }
  return response.status === 204 ? null : response.json();
}

/** POST (or PUT) a JSON body. */
export function send(path, body, method = "POST") {
  const options = { method };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers = { "Content-Type": "application/json" };
  }
  return api(path, options);
}
