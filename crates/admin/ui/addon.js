// One add-on's page: its name, state and the actions that fit (install, start, stop, restart,
// update, rebuild, uninstall; install and update followed live as jobs), start on boot,
// watchdog, auto-update and protection mode, the configuration form generated from its options
// schema and translations (the supervisor's validation message shown next to it), its network
// ports, stats, a log that can follow live, its documentation and changelog rendered from
// Markdown, and what it is granted.

import { get, post, text } from "./api.js";
import { h, replace, errorBox, section, facts, busy, statusLine, confirmDialog, checkField, field, actionRow, statsFacts } from "./dom.js";
import { jobPanel, runJob } from "./jobs.js";
import { logView } from "./logs.js";
import { renderMarkdown, safeUrl } from "./markdown.js";
import { optionsControls, pickTranslation } from "./schema-form.js";

const enc = encodeURIComponent;

const isInstalled = (info) => (info.installed === undefined ? Boolean(info.version) : info.installed);

/** The add-on's web UI address with `[HOST]` made this page's host; null unless http(s). */
function webUi(info) {
  if (!info.webui) return null;
  return safeUrl(info.webui.replace("[HOST]", location.hostname));
}

function stateBadge(info) {
  const state = isInstalled(info) ? info.state : "not installed";
  const kind = state === "started" ? "good" : state === "error" ? "bad" : "";
  return h("span", { class: ["badge", "state", kind], "data-test": "addon-state", text: state });
}

/** The header: name, description, state, version and the action buttons. */
function headerCard(page, info) {
  const { slug, panel, signal } = page;
  const installed = isInstalled(info);
  const errors = errorBox();
  const { buttons, add: button } = actionRow(errors);
  const job = async (label, doneLabel, start) => {
    await runJob(panel, label, doneLabel, start, signal);
    await page.redraw();
  };
  if (!installed) {
    button("install", "Install", "primary", () =>
      job(`Installing ${info.name}`, `${info.name} installed`, () => post(`/store/addons/${enc(slug)}/install`, { background: true })),
    );
    if (!info.available) buttons[0].disabled = true;
  } else {
    if (info.state === "started" || info.state === "startup") {
      button("stop", "Stop", "", async () => {
        await post(`/addons/${enc(slug)}/stop`);
        await page.refreshHeader();
      });
      button("restart", "Restart", "", async () => {
        await post(`/addons/${enc(slug)}/restart`, {});
        await page.refreshHeader();
      });
    } else {
      button("start", "Start", "primary", async () => {
        try {
          await post(`/addons/${enc(slug)}/start`);
        } finally {
          await page.refreshHeader();
        }
      });
    }
    if (info.update_available) {
      button("update", `Update to ${info.version_latest}`, "primary", () =>
        job(`Updating ${info.name}`, `${info.name} updated to ${info.version_latest}`, () => post(`/store/addons/${enc(slug)}/update`, { background: true })),
      );
    }
    if (info.build) {
      button("rebuild", "Rebuild", "", () => job(`Rebuilding ${info.name}`, `${info.name} rebuilt`, () => post(`/addons/${enc(slug)}/rebuild`, { background: true })));
    }
    button("uninstall", "Uninstall", "danger", async () => {
      const removeConfig = h("input", { type: "checkbox", name: "remove_config" });
      const confirmed = await confirmDialog({
        title: `Uninstall ${info.name}?`,
        body: [h("p", { text: "Its container, image and data are removed." }), checkField("Also remove its configuration folder", removeConfig)],
        confirmLabel: "Uninstall",
        danger: true,
      });
      if (!confirmed) return;
      await job(`Uninstalling ${info.name}`, `${info.name} uninstalled`, () =>
        post(`/addons/${enc(slug)}/uninstall`, { remove_config: removeConfig.checked, background: true }),
      );
    });
    const ui = webUi(info);
    if (ui && info.state === "started") buttons.push(h("a", { class: "button", href: ui, target: "_blank", rel: "noopener noreferrer", text: "Open web UI" }));
  }
  // An installed add-on's own files (it may be gone from the store), else the store's.
  const images = installed ? `/addons/${enc(slug)}` : `/store/addons/${enc(slug)}`;
  const image = info.logo
    ? h("img", { class: "logo", src: `${images}/logo`, alt: "" })
    : info.icon
      ? h("img", { class: "icon", src: `${images}/icon`, alt: "", width: "64", height: "64" })
      : null;
  const version = installed
    ? info.update_available
      ? `Version ${info.version} (${info.version_latest} available)`
      : `Version ${info.version}`
    : `Version ${info.version_latest}`;
  const warnings = [];
  if (!info.available) warnings.push(h("p", { class: "warning", text: "This add-on is not available on this system (architecture, machine or Home Assistant version)." }));
  if (info.update_locked) warnings.push(h("p", { class: "warning", text: "The add-on holds its update lock: updates and restarts wait until it lets go." }));
  return h(
    "section",
    { class: "card addon-head", "aria-label": "Overview" },
    h("div", { class: "addon-title-row" }, image, h("div", {}, h("p", { class: "muted", text: info.description || "" }), h("p", {}, stateBadge(info), " ", h("span", { class: "muted", text: version })))),
    warnings,
    h("div", { class: "actions" }, buttons),
    errors.el,
  );
}

/** A checkbox that saves one setting as soon as it changes; reverted when refused. */
function settingToggle(label, hook, checked, save, hint, disabled = false) {
  const box = h("input", { type: "checkbox", role: "switch", "data-test": hook, checked, disabled });
  const errors = errorBox();
  box.addEventListener("change", async () => {
    const wanted = box.checked;
    const ok = await busy(box, errors, async () => {
      await save(wanted);
      return true;
    });
    if (!ok) box.checked = !wanted;
  });
  const wrap = checkField(label, box, hint);
  wrap.append(errors.el);
  return wrap;
}

function settingsCard(page, info) {
  const { slug } = page;
  const options = (body) => post(`/addons/${enc(slug)}/options`, body);
  const manualOnly = info.boot_config === "manual_only";
  return section(
    "Settings",
    settingToggle("Start on boot", "boot", info.boot === "auto", (on) => options({ boot: on ? "auto" : "manual" }), manualOnly ? "This add-on is only started by hand." : "Start the add-on when the system starts.", manualOnly),
    settingToggle("Watchdog", "watchdog", info.watchdog, (on) => options({ watchdog: on }), "Start the add-on again when it crashes."),
    settingToggle("Auto update", "auto-update", info.auto_update, (on) => options({ auto_update: on }), "Update the add-on when a new version is out."),
    settingToggle("Protection mode", "protected", info.protected, (on) => post(`/addons/${enc(slug)}/security`, { protected: on }), "While on, the add-on does not get full access to the system even if it asks for it."),
  );
}

function configurationCard(page, info) {
  const { slug } = page;
  const translation = pickTranslation(info.translations);
  const formError = errorBox("form-error");
  const status = statusLine();
  const form = h("form", { "data-test": "options-form", novalidate: true, class: "options-form" });
  const save = h("button", { type: "submit", class: "primary", "data-test": "save-options", text: "Save" });
  const reset = h("button", { type: "button", "data-test": "reset-options", text: "Reset to defaults" });
  const hasSchema = Array.isArray(info.schema);
  if (hasSchema && info.schema.length === 0) return section("Configuration", h("p", { class: "muted", text: "This add-on has no options." }));
  // Without a schema (`schema: false`) the options are free: they are edited as JSON only.
  let controls = hasSchema ? optionsControls(info.schema, info.options || {}, translation) : null;
  const fields = h("div", { class: "options-grid" }, controls ? controls.els : []);
  const json = h("textarea", { name: "options-json", rows: "12", spellcheck: "false", "aria-label": "Options as JSON" });
  const jsonMode = h("input", { type: "checkbox", "data-test": "options-json-mode", checked: !hasSchema, disabled: !hasSchema });
  const jsonField = h("div", { class: "field", hidden: hasSchema }, json);
  const showJson = (on) => {
    if (on) json.value = JSON.stringify(controls ? controls.read() : info.options || {}, null, 2);
    fields.hidden = on;
    jsonField.hidden = !on;
  };
  jsonMode.addEventListener("change", () => {
    formError.clear();
    if (jsonMode.checked) showJson(true);
    else {
      try {
        const edited = JSON.parse(json.value);
        controls = optionsControls(info.schema, edited, translation);
        replace(fields, controls.els);
      } catch (error) {
        jsonMode.checked = true;
        formError.show(`The JSON does not parse: ${error.message}`);
        return;
      }
      showJson(false);
    }
  });
  const read = () => {
    if (!jsonMode.checked) return controls.read();
    try {
      return JSON.parse(json.value);
    } catch (error) {
      throw new Error(`The JSON does not parse: ${error.message}`);
    }
  };
  showJson(!hasSchema);
  form.append(checkField("Edit as JSON", jsonMode), fields, jsonField, formError.el, h("div", { class: "actions" }, reset, save), status.el);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    status.say("");
    busy([save, reset], formError, async () => {
      await post(`/addons/${enc(slug)}/options`, { options: read() });
      status.say(info.state === "started" ? "Saved. Restart the add-on to use them." : "Saved.");
    });
  });
  reset.addEventListener("click", async () => {
    const confirmed = await confirmDialog({ title: "Reset the options to their defaults?", confirmLabel: "Reset", danger: true });
    if (!confirmed) return;
    await busy([save, reset], formError, async () => {
      await post(`/addons/${enc(slug)}/options`, { options: null });
      await page.redraw();
    });
  });
  form.addEventListener("input", () => status.say(""));
  return section("Configuration", form);
}

function networkCard(page, info) {
  const { slug } = page;
  const ports = info.network || {};
  const names = Object.keys(ports);
  if (!names.length) return null;
  const translation = pickTranslation(info.translations);
  const descriptions = { ...(info.network_description || {}), ...(translation.network || {}) };
  const errors = errorBox();
  const status = statusLine();
  const inputs = names.map((port) => {
    const input = h("input", { type: "number", name: port, min: "1", max: "65535", step: "1", inputmode: "numeric", value: ports[port] ?? "", placeholder: "Disabled" });
    return field(descriptions[port] ? `${descriptions[port]} (${port})` : port, input, "Host port; empty to not publish it.");
  });
  const save = h("button", { type: "submit", class: "primary", "data-test": "save-network", text: "Save" });
  const reset = h("button", { type: "button", text: "Reset to defaults" });
  const form = h("form", { "data-test": "network-form", class: "ports", novalidate: true }, inputs, errors.el, h("div", { class: "actions" }, reset, save), status.el);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy([save, reset], errors, async () => {
      const network = {};
      for (const port of names) {
        const value = form.elements.namedItem(port).value.trim();
        network[port] = value === "" ? null : Number(value);
      }
      await post(`/addons/${enc(slug)}/options`, { network });
      status.say(info.state === "started" ? "Saved. Restart the add-on to use the new ports." : "Saved.");
    });
  });
  reset.addEventListener("click", () =>
    busy([save, reset], errors, async () => {
      await post(`/addons/${enc(slug)}/options`, { network: null });
      await page.redraw();
    }),
  );
  return section("Network", form);
}

function statsCard(page, info) {
  const { slug, signal } = page;
  const body = h("div", { "data-test": "stats", "aria-live": "polite" });
  const errors = errorBox();
  const refresh = h("button", { type: "button", class: "small", text: "Refresh" });
  const load = (state) => {
    if (state !== "started") {
      errors.clear();
      refresh.hidden = true;
      replace(body, h("p", { class: "muted", text: "The add-on is not running." }));
      return;
    }
    refresh.hidden = false;
    busy(refresh, errors, async () => {
      const stats = await get(`/addons/${enc(slug)}/stats`, { signal });
      replace(body, statsFacts(stats));
    });
  };
  refresh.addEventListener("click", () => load("started"));
  page.loadStats = load;
  load(info.state);
  return section("Stats", body, errors.el, h("div", { class: "actions" }, refresh));
}

function markdownCard(title, hook, path, signal) {
  const body = h("div", { "data-test": hook, class: "doc", "aria-busy": "true" }, h("p", { class: "muted", text: "Loading…" }));
  text(path, { signal })
    .then((source) => replace(body, renderMarkdown(source)))
    .catch((error) => {
      if (error.name === "AbortError") return;
      const errors = errorBox();
      errors.show(error);
      replace(body, errors.el);
    })
    .finally(() => body.removeAttribute("aria-busy"));
  return section(title, body);
}

function infoCard(info) {
  const yes = (flag) => (flag ? "yes" : null);
  const grants = [
    ["Host network", yes(info.host_network)],
    ["Host PID namespace", yes(info.host_pid)],
    ["Full access", yes(info.full_access)],
    ["Docker API", yes(info.docker_api)],
    ["Supervisor API", info.hassio_api ? `yes (${info.hassio_role})` : null],
    ["Home Assistant API", yes(info.homeassistant_api)],
    ["Authentication API", yes(info.auth_api)],
    ["Privileges", (info.privileged || []).join(", ")],
    ["Devices", (info.devices || []).join(", ")],
    ["AppArmor", info.apparmor],
  ];
  const url = info.url && safeUrl(info.url) ? h("a", { href: safeUrl(info.url), rel: "noopener noreferrer", target: "_blank", text: info.url }) : null;
  return section(
    "About",
    facts([
      ["Slug", info.slug],
      ["Repository", info.repository],
      ["Stage", info.stage],
      ["Security rating", info.rating !== undefined ? `${info.rating} / 6` : null],
      ["Host name", info.hostname],
      ["IP address", info.ip_address],
      ["Architectures", (info.arch || []).join(", ")],
      ["Built locally", info.build ? "yes" : null],
      ["Home Assistant", info.homeassistant],
      ["Project", url],
      ...grants,
    ]),
  );
}

export async function render(main, { params: [slug], signal }) {
  const page = { slug, signal, panel: jobPanel(), main };
  let header = null;

  page.refreshHeader = async () => {
    const info = await get(`/addons/${enc(slug)}/info`, { signal });
    const fresh = headerCard(page, info);
    if (header?.isConnected) header.replaceWith(fresh);
    header = fresh;
    page.loadStats?.(info.state);
  };

  page.redraw = async () => {
    const info = await get(`/addons/${enc(slug)}/info`, { signal });
    if (signal.aborted) return;
    const installed = isInstalled(info);
    const base = installed ? `/addons/${enc(slug)}` : `/store/addons/${enc(slug)}`;
    header = headerCard(page, info);
    const title = h("h1", { tabindex: "-1", "data-test": "addon-name", text: info.name });
    document.title = `${info.name} – Supervisor`;
    const parts = [h("p", { class: "crumbs" }, h("a", { href: "#/store", text: "Add-on store" })), title, header, page.panel.el];
    if (installed) {
      const logs = logView({ path: () => `/addons/${enc(slug)}/logs`, label: `${info.name} log`, signal });
      parts.push(
        h(
          "div",
          { class: "grid" },
          settingsCard(page, info),
          statsCard(page, info),
        ),
        configurationCard(page, info),
        networkCard(page, info),
        section("Log", logs.el),
      );
      logs.load();
    }
    if (info.documentation !== false) parts.push(markdownCard("Documentation", "documentation", `${base}/documentation`, signal));
    else parts.push(section("Documentation", h("p", { "data-test": "documentation", class: "muted", text: "This add-on has no documentation." })));
    if (info.changelog !== false) parts.push(markdownCard("Changelog", "changelog", `${base}/changelog`, signal));
    else parts.push(section("Changelog", h("p", { "data-test": "changelog", class: "muted", text: "This add-on has no changelog." })));
    parts.push(infoCard(info));
    const focused = document.activeElement?.dataset?.test;
    replace(main, parts);
    if (focused) main.querySelector(`[data-test="${focused}"]`)?.focus();
  };

  await page.redraw();
}
