// The example page: cookie mode in ~150 lines of plain JavaScript.
//
// The access and refresh tokens live in HttpOnly cookies: this script never sees them and
// only sends requests with `credentials: "same-origin"`. What it does handle is the CSRF
// token, fetched once from the API and sent as X-CSRFToken on every unsafe request.
"use strict";

const urls = document.body.dataset;
let csrfToken = "";
// When the access cookie expires (the browser then drops it). Unknown after a page load.
let accessExpiresAt = 0;

const MESSAGES = {
  session_revoked: "This session was revoked. Please log in again.",
  session_expired: "Your session expired. Please log in again.",
  user_inactive: "This account is disabled.",
  invalid_credentials: "Wrong username or password.",
  too_many_attempts: "Too many failed attempts. Try again later.",
};

// Shown as notices (neutral), not errors: the user did nothing wrong.
const NOTICES = new Set(["session_revoked", "session_expired"]);
// Set at login, cleared at logout: a page opened while logged out makes no API call at all
// (a 401 in the network log is a console error in every browser).
const SIGNED_IN_HINT = "notes-demo-signed-in";

class SignedOut extends Error {}

function $(selector) {
  return document.querySelector(selector);
}

async function send(method, url, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch(url, init);
}

async function errorCode(response) {
  try {
    return (await response.clone().json()).code || "";
  } catch {
    return "";
  }
}

function noteTokenLifetime(body) {
  accessExpiresAt = Date.now() + body.expires_in * 1000;
}

async function refresh() {
  const response = await send("POST", urls.refreshUrl);
  if (response.ok) noteTokenLifetime(await response.json());
  return response;
}

// Every API call goes through here: on a 401, try one refresh, then retry once; if the
// session is gone (revoked, expired), return to the login form.
async function api(method, url, body) {
  let response = await send(method, url, body);
  if (response.status !== 401) return response;
  const code = await errorCode(response);
  const refreshed = await refresh();
  if (refreshed.ok) {
    response = await send(method, url, body);
    if (response.status !== 401) return response;
  }
  const refreshCode = await errorCode(refreshed);
  const shown = MESSAGES[code] ? code : refreshCode;
  showLogin(MESSAGES[shown] || "", NOTICES.has(shown) ? "notice" : "error");
  throw new SignedOut();
}

// kind: "notice" (logged out, session ended) or "error" (something failed).
function say(selector, message, kind) {
  const element = $(selector);
  element.textContent = message;
  element.className = `message ${kind}`;
}

function showLogin(message, kind = "notice") {
  localStorage.removeItem(SIGNED_IN_HINT);
  $("#app").hidden = true;
  $("#login").hidden = false;
  say("#login-message", message, kind);
  $("#login-form").elements.password.value = "";
}

function showApp() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#app-message").textContent = "";
}

function describeDevice(userAgent) {
  if (!userAgent) return "Unknown device";
  const browser = /Edg\//.test(userAgent) ? "Edge"
    : /Firefox\//.test(userAgent) ? "Firefox"
    : /Chrom(e|ium)\//.test(userAgent) ? "Chrome"
    : /Safari\//.test(userAgent) ? "Safari"
    : userAgent.split(/[\s/]/)[0];
  const system = /Windows/.test(userAgent) ? "Windows"
    : /Android/.test(userAgent) ? "Android"
    : /iPhone|iPad/.test(userAgent) ? "iOS"
    : /Mac OS X/.test(userAgent) ? "macOS"
    : /Linux/.test(userAgent) ? "Linux"
    : "";
  return system ? `${browser} on ${system}` : browser;
}

function cell(row, text, label) {
  const td = row.insertCell();
  td.textContent = text;
  td.dataset.label = label;
  return td;
}

async function loadNotes() {
  const notes = await (await api("GET", urls.notesUrl)).json();
  const list = $("#notes");
  list.replaceChildren();
  for (const note of notes) {
    const item = document.createElement("li");
    item.dataset.noteId = note.id;
    const title = document.createElement("strong");
    title.textContent = note.title;
    const text = document.createElement("div");
    text.className = "note-body";
    text.textContent = note.body;
    item.append(title, text);
    list.append(item);
  }
}

async function loadSessions() {
  const sessions = await (await api("GET", urls.sessionsUrl)).json();
  const body = $("#sessions tbody");
  body.replaceChildren();
  for (const session of sessions) {
    const row = body.insertRow();
    row.dataset.sessionId = session.id;
    if (session.current) row.className = "current";
    // data-label: the column name, shown beside each value when a phone stacks the cells.
    const device = cell(row, describeDevice(session.user_agent), "Device");
    device.title = session.user_agent;
    cell(row, session.ip_address || "", "IP address");
    cell(row, new Date(session.last_used_at).toLocaleString(), "Last used");
    cell(row, new Date(session.created_at).toLocaleString(), "Started");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "revoke";
    button.textContent = session.current ? "Log out" : "Revoke";
    button.addEventListener("click", () => guarded(() => revokeSession(session)));
    row.insertCell().append(button);
  }
}

async function loadAll() {
  await loadNotes();
  await loadSessions();
  showApp();
}

async function revokeSession(session) {
  await api("DELETE", `${urls.sessionsUrl}${encodeURIComponent(session.id)}/`);
  if (session.current) showLogin("You have logged out.");
  else await loadSessions();
}

async function logout() {
  // Logout finds the session through the access cookie. If that cookie may have expired,
  // the browser no longer sends it (and the refresh cookie only goes to the refresh
  // endpoint): refresh first so the server can still revoke the session.
  if (Date.now() > accessExpiresAt - 5000) await refresh();
  await send("POST", urls.logoutUrl);
  showLogin("You have logged out.");
}

async function logoutEverywhere() {
  await api("POST", urls.logoutAllUrl);
  showLogin("You have logged out on every device.");
}

// Runs an action; a SignedOut has already shown the login form, anything else is reported.
async function guarded(action) {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof SignedOut)) {
      say("#app-message", `Something went wrong: ${error.message}`, "error");
    }
  }
}

async function onLogin(event) {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button[type=submit]");
  // Progress while the server checks the password (Argon2 takes a noticeable moment).
  button.disabled = true;
  button.textContent = "Logging in…";
  form.setAttribute("aria-busy", "true");
  say("#login-message", "", "notice");
  try {
    const response = await send("POST", urls.loginUrl, {
      username: form.elements.username.value,
      password: form.elements.password.value,
    });
    if (!response.ok) {
      const code = await errorCode(response);
      say("#login-message", MESSAGES[code] || `Login failed (${response.status}).`, "error");
      return;
    }
    noteTokenLifetime(await response.json());
    localStorage.setItem(SIGNED_IN_HINT, "1");
    form.reset();
    await guarded(loadAll);
  } finally {
    button.disabled = false;
    button.textContent = "Log in";
    form.removeAttribute("aria-busy");
  }
}

async function onNote(event) {
  event.preventDefault();
  const form = event.target;
  const response = await api("POST", urls.notesUrl, {
    title: form.elements.title.value,
    body: form.elements.body.value,
  });
  if (!response.ok) {
    say("#app-message", `Could not save the note (${response.status}).`, "error");
    return;
  }
  form.reset();
  await loadNotes();
}

async function start() {
  csrfToken = (await (await fetch(urls.csrfUrl, { credentials: "same-origin" })).json()).csrf_token;
  $("#login-form").addEventListener("submit", (event) => guarded(() => onLogin(event)));
  $("#note-form").addEventListener("submit", (event) => guarded(() => onNote(event)));
  $("#reload").addEventListener("click", () => guarded(loadAll));
  $("#logout").addEventListener("click", () => guarded(logout));
  $("#logout-all").addEventListener("click", () => guarded(logoutEverywhere));
  // Still logged in from an earlier visit? The cookies will tell; if not, the login form.
  if (localStorage.getItem(SIGNED_IN_HINT)) await guarded(loadAll);
  else showLogin("");
}

start();
