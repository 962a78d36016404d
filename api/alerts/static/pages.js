// What the console and the family page share: switching between login and the page, and the
// language choice (loaded from the catalogue, remembered on the account when asked).
"use strict";

import { login, send, setToken, token } from "./api.js";
import { $ } from "./dom.js";
import { loadCatalogue, locale, t } from "./i18n.js";

/** Log in with the form's username and password; false (and a message shown) if refused. */
export async function logInFromForm(onExpired) {
  $("login-error").textContent = "";
  const bearer = await login($("username").value, $("password").value);
  if (!bearer) {
    $("login-error").textContent = t("console.login.failed");
    return false;
  }
  setToken(bearer, onExpired);
  $("password").value = "";
  return true;
}

/** Show the login form (with a message) instead of the page whose main element is `mainId`. */
export function showLogin(mainId, message) {
  $(mainId).hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
}

/** Show the page instead of the login form. */
export function showPage(mainId) {
  $("login-view").hidden = true;
  $(mainId).hidden = false;
  $("logout").hidden = false;
}

/** Load the texts of `wanted`; with `remember`, store the choice on the account. */
export async function changeLanguage(wanted, remember) {
  await loadCatalogue(wanted);
  $("language").value = locale();
  if (remember && token()) await send("/accounts/me/locale", { locale: locale() }, "PUT");
}
