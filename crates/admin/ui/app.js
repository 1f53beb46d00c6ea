// The shell of the admin pages: a hash router (`#/`, `#/store`, `#/addon/<slug>`, `#/backups`,
// `#/system`, `#/core`, `#/resolution`, `#/plugins`, `#/mounts`) that renders one page module into `<main>`, moves focus
// to its heading, marks the current link in the navigation, and ends the page's streams when
// another page is shown. Any 401 from the API turns the page into the "log in" view.

import { post, setUnauthorizedHandler } from "./api.js";
import { h, replace, errorBox } from "./dom.js";
import * as dashboard from "./dashboard.js";
import * as store from "./store.js";
import * as addon from "./addon.js";
import * as backups from "./backups.js";
import * as system from "./system.js";
import * as core from "./core.js";
import * as resolution from "./resolution.js";
import * as plugins from "./plugins.js";
import * as mounts from "./mounts.js";

const ROUTES = [
  { pattern: /^\/?$/, page: dashboard, nav: "nav-dashboard" },
  { pattern: /^\/store\/?$/, page: store, nav: "nav-store" },
  { pattern: /^\/addon\/([^/]+)\/?$/, page: addon, nav: "nav-store" },
  { pattern: /^\/backups\/?$/, page: backups, nav: "nav-backups" },
  { pattern: /^\/system\/?$/, page: system, nav: "nav-system" },
  { pattern: /^\/core\/?$/, page: core, nav: "nav-core" },
  { pattern: /^\/resolution\/?$/, page: resolution, nav: "nav-resolution" },
  { pattern: /^\/plugins\/?$/, page: plugins, nav: "nav-plugins" },
  { pattern: /^\/mounts\/?$/, page: mounts, nav: "nav-mounts" },
];

const main = document.getElementById("main");
let current = null;
let loggedOut = false;

function markNav(hook) {
  for (const link of document.querySelectorAll("nav a[data-test]")) {
    if (link.dataset.test === hook) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function loginNeeded() {
  if (current) current.abort();
  current = null;
  loggedOut = true;
  markNav(null);
  document.title = "Log in – Supervisor";
  replace(
    main,
    h(
      "section",
      { class: "card login", "data-test": "login-needed", "aria-labelledby": "login-title" },
      h("h1", { id: "login-title", tabindex: "-1", text: "Log in" }),
      h("p", { text: "You are not logged in, or your session has ended." }),
      h("p", {}, "On the machine the supervisor runs on, run ", h("code", { text: "ha admin login" }), " and open the link it prints in this browser. The link works once, for five minutes."),
    ),
  );
  document.getElementById("logout").hidden = true;
  main.querySelector("h1").focus();
}

function notFound(path) {
  document.title = "Not found – Supervisor";
  replace(
    main,
    h("h1", { tabindex: "-1", text: "Not found" }),
    h("p", {}, "There is no page ", h("code", { text: path }), ". ", h("a", { href: "#/", text: "Go to the dashboard" }), "."),
  );
}

async function route() {
  const hash = location.hash || "#/";
  if (!hash.startsWith("#/")) return;
  const path = hash.slice(1).split("?")[0];
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  loggedOut = false;
  document.getElementById("logout").hidden = false;
  const match = ROUTES.map((r) => ({ r, m: path.match(r.pattern) })).find((x) => x.m);
  if (!match) {
    markNav(null);
    notFound(path);
    return;
  }
  markNav(match.r.nav);
  const params = match.m.slice(1).map((p) => decodeURIComponent(p));
  replace(main, h("p", { class: "loading", role: "status", text: "Loading…" }));
  try {
    await match.r.page.render(main, { params, signal: controller.signal });
  } catch (error) {
    if (error.name === "AbortError" || controller.signal.aborted || loggedOut) return;
    const errors = errorBox();
    errors.show(error);
    replace(main, h("h1", { tabindex: "-1", text: "Something went wrong" }), errors.el);
  }
  if (controller.signal.aborted || loggedOut) return;
  const heading = main.querySelector("h1");
  if (heading) heading.focus({ preventScroll: true });
}

setUnauthorizedHandler(loginNeeded);

document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  (main.querySelector("h1") || main).focus();
});

document.getElementById("logout").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await post("/admin/logout", {});
  } catch {
    // Gone or not: the view below says to log in again either way.
  }
  button.disabled = false;
  loginNeeded();
});

window.addEventListener("hashchange", () => {
  route();
  if (location.hash.startsWith("#/")) window.scrollTo(0, 0);
});
route();
