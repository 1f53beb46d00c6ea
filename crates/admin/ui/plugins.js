// The plugins (dns, audio, cli, observer, multicast): each one's version with its update (its
// job followed live), stats and restart; the dns plugin's upstream servers and fallback with its
// reset; the audio devices (the default input and output, each device's volume and mute); and
// the logs of the plugins that have one, followed live.

import { get, post } from "./api.js";
import { h, replace, errorBox, section, facts, badge, pageTitle, busy, field, checkField, statusLine, confirmDialog, actionRow, statsFacts } from "./dom.js";
import { jobPanel, runAwaitedJob } from "./jobs.js";
import { logView } from "./logs.js";

const PLUGINS = [
  { name: "dns", label: "DNS", restart: true, logs: true },
  { name: "audio", label: "Audio", restart: true, logs: true },
  { name: "cli", label: "CLI", restart: false, logs: false },
  { name: "observer", label: "Observer", restart: false, logs: false },
  { name: "multicast", label: "Multicast", restart: true, logs: true },
];

function statsBlock(plugin, info, signal) {
  const body = h("div", { "data-test": `stats-${plugin.name}`, "aria-live": "polite" });
  const refresh = h("button", { type: "button", class: "small", text: "Refresh stats" });
  refresh.setAttribute("aria-label", `Refresh ${plugin.label} stats`);
  const load = () =>
    busy(refresh, null, async () => {
      try {
        replace(body, statsFacts(await get(`/${plugin.name}/stats`, { signal })));
      } catch (error) {
        if (error.name !== "AbortError") replace(body, h("p", { class: "muted", text: error.message }));
      }
    });
  refresh.addEventListener("click", load);
  if (info.version) load();
  else replace(body, h("p", { class: "muted", text: `The ${plugin.label} plugin is not installed.` }));
  return h("div", { class: "plugin-stats" }, h("h3", { text: "Stats" }), body, h("div", { class: "actions" }, refresh));
}

function pluginCard(plugin, info, page) {
  // Kept across redraws, so the outcome of an update stays in the card it was started from.
  page.panels[plugin.name] ||= jobPanel();
  const panel = page.panels[plugin.name];
  const errors = errorBox();
  const status = statusLine();
  const { buttons, add: button } = actionRow(errors);
  if (info.update_available) {
    const update = button(`update-${plugin.name}`, `Update to ${info.version_latest}`, "primary", async () => {
      const ok = await runAwaitedJob(
        panel,
        `Updating the ${plugin.label} plugin`,
        `${plugin.label} plugin updated to ${info.version_latest}`,
        () => post(`/${plugin.name}/update`, {}),
        { name: `plugin_${plugin.name}_update`, reference: plugin.name },
        page.signal,
      );
      if (ok) await page.redraw();
    });
    update.setAttribute("aria-label", `Update the ${plugin.label} plugin to ${info.version_latest}`);
  }
  if (plugin.restart) {
    const restart = button(`restart-${plugin.name}`, "Restart", "", async () => {
      await post(`/${plugin.name}/restart`, {});
      status.say(`The ${plugin.label} plugin restarted.`);
    });
    restart.setAttribute("aria-label", `Restart the ${plugin.label} plugin`);
  }
  const state = info.update_available ? badge("update available", "warn") : info.version ? badge("up to date", "good") : null;
  const extra = [];
  if (plugin.name === "dns") extra.push(dnsForm(info, page));
  if (plugin.name === "audio") extra.push(audioDevices(info.audio || {}, page));
  const card = section(
    `${plugin.label} plugin`,
    h("p", {}, "Version ", h("strong", { "data-test": "plugin-version", text: info.version || "not installed" }), " ", state),
    facts([
      ["Latest", info.version_latest],
      ["Address", info.host],
    ]),
    buttons.length ? h("div", { class: "actions" }, buttons) : null,
    panel.el,
    errors.el,
    status.el,
    statsBlock(plugin, info, page.signal),
    extra,
  );
  card.dataset.test = "plugin";
  card.dataset.plugin = plugin.name;
  return card;
}

/** The dns plugin's upstream servers (one a line) and fallback, with its reset. */
function dnsForm(info, page) {
  const servers = h("textarea", { name: "servers", rows: "3", "data-test": "dns-servers", spellcheck: "false", autocomplete: "off" });
  servers.value = (info.servers || []).join("\n");
  const fallback = h("input", { type: "checkbox", name: "fallback", "data-test": "dns-fallback", checked: info.fallback !== false });
  const errors = errorBox("form-error");
  const status = statusLine();
  const save = h("button", { type: "submit", class: "primary", "data-test": "save-dns-options", text: "Save" });
  const reset = h("button", { type: "button", class: "danger", "data-test": "reset-dns", text: "Reset" });
  const form = h(
    "form",
    { novalidate: true, "data-test": "dns-options", "aria-label": "DNS settings" },
    field("Upstream DNS servers", servers, "One a line, as dns://1.1.1.1; none to use the host's."),
    checkField("Fall back to public DNS servers", fallback),
    errors.el,
    h("div", { class: "actions" }, save, reset),
    status.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy([save, reset], errors, async () => {
      const list = servers.value.split(/[\s,]+/).filter(Boolean);
      await post("/dns/options", { servers: list, fallback: fallback.checked });
      status.say("DNS settings saved.");
    });
  });
  reset.addEventListener("click", async () => {
    const confirmed = await confirmDialog({
      title: "Reset the DNS plugin?",
      body: [h("p", { text: "Its servers and settings go back to the defaults, and it restarts." })],
      confirmLabel: "Reset",
      danger: true,
      onConfirm: () => post("/dns/reset", {}),
    });
    if (!confirmed) return;
    await page.redraw();
  });
  return h("div", { class: "plugin-form" }, h("h3", { text: "Settings" }), form);
}

/** The default input and output, and each device's volume and mute. */
function audioDevices(audio, page) {
  const errors = errorBox();
  const status = statusLine();
  const parts = [];
  for (const [kind, label] of [
    ["output", "Default output"],
    ["input", "Default input"],
  ]) {
    const devices = audio[kind] || [];
    if (!devices.length) continue;
    const select = h(
      "select",
      { name: `default-${kind}`, "data-test": `audio-default-${kind}` },
      devices.map((device) => h("option", { value: device.name, selected: device.default, text: device.description || device.name })),
    );
    select.addEventListener("change", () =>
      busy(select, errors, async () => {
        await post(`/audio/default/${kind}`, { name: select.value });
        status.say(`${label} set.`);
      }),
    );
    parts.push(field(label, select));
    for (const device of devices) parts.push(deviceRow(kind, device, errors, status));
  }
  if (!parts.length) parts.push(h("p", { class: "muted", text: "No audio device is known (the audio plugin reports none)." }));
  return h("div", { class: "plugin-form", "data-test": "audio-devices" }, h("h3", { text: "Devices" }), parts, errors.el, status.el);
}

function deviceRow(kind, device, errors, status) {
  const name = device.description || device.name;
  const volume = h("input", { type: "range", min: "0", max: "100", step: "1", value: String(Math.round((device.volume || 0) * 100)), "data-test": "audio-volume" });
  const mute = h("input", { type: "checkbox", "data-test": "audio-mute", checked: device.mute });
  volume.addEventListener("change", () =>
    busy(volume, errors, async () => {
      await post(`/audio/volume/${kind}`, { index: device.index, volume: Number(volume.value) / 100 });
      status.say(`${name}: volume ${volume.value} %.`);
    }),
  );
  mute.addEventListener("change", () =>
    busy(mute, errors, async () => {
      await post(`/audio/mute/${kind}`, { index: device.index, active: mute.checked });
      status.say(`${name}: ${mute.checked ? "muted" : "not muted"}.`);
    }),
  );
  return h("div", { class: "audio-device", "data-device": device.name }, field(`${name} volume`, volume), checkField(`Mute ${name}`, mute));
}

function logsSection(signal) {
  const withLogs = PLUGINS.filter((p) => p.logs);
  const which = h(
    "select",
    { name: "plugin", "data-test": "log-plugin" },
    withLogs.map((p) => h("option", { value: p.name, text: p.label })),
  );
  const logs = logView({ path: () => `/${which.value}/logs`, label: "Plugin log", controls: [field("Plugin", which)], signal });
  which.addEventListener("change", () => logs.load());
  return { el: section("Logs", logs.el), logs };
}

export async function render(main, { signal }) {
  const page = { panels: {}, signal };
  const logs = logsSection(signal);
  const holder = h("div", { class: "grid" });
  page.redraw = async () => {
    const infos = await Promise.all(
      PLUGINS.map((plugin) => get(`/${plugin.name}/info`, { signal }).catch((error) => ({ failed: error }))),
    );
    if (signal.aborted) return;
    replace(
      holder,
      PLUGINS.map((plugin, i) => {
        const info = infos[i];
        if (info.failed) {
          const errors = errorBox();
          errors.show(info.failed);
          const card = section(`${plugin.label} plugin`, errors.el);
          card.dataset.test = "plugin";
          card.dataset.plugin = plugin.name;
          return card;
        }
        return pluginCard(plugin, info, page);
      }),
    );
  };
  await page.redraw();
  if (signal.aborted) return;
  replace(main, pageTitle("Plugins"), holder, logs.el);
  logs.logs.load();
}
