// System: the host (its facts, the hostname, reboot and shutdown after a confirmation), the
// network interfaces each with its settings form, the operating system with its update
// followed live, the hardware, the host's journal filtered by boot and syslog identifier, and
// the supervisor itself (its settings, reload, repair, restart and its log).

import { get, post } from "./api.js";
import { h, replace, errorBox, section, facts, pageTitle, busy, field, checkField, statusLine, confirmDialog, when, bytes, badge } from "./dom.js";
import { jobPanel, runJob } from "./jobs.js";
import { logView } from "./logs.js";

const enc = encodeURIComponent;

function hostSection(host, info) {
  const errors = errorBox();
  const status = statusLine();
  const hostname = h("input", { type: "text", name: "hostname", "data-test": "hostname", value: host.hostname || "", autocomplete: "off", spellcheck: "false" });
  const save = h("button", { type: "submit", class: "primary", "data-test": "save-hostname", text: "Save" });
  const form = h("form", { class: "inline-form", novalidate: true }, field("Host name", hostname), save);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, errors, async () => {
      await post("/host/options", { hostname: hostname.value.trim() });
      status.say(`Host name set to ${hostname.value.trim()}.`);
    });
  });
  const power = (hook, label, path, question) => {
    const button = h("button", { type: "button", class: "danger", "data-test": hook, text: label });
    button.addEventListener("click", async () => {
      errors.clear();
      const done = await confirmDialog({
        title: question,
        body: [h("p", { text: "Home Assistant, the add-ons and these pages are unreachable until the host is back." })],
        confirmLabel: label,
        danger: true,
        onConfirm: () => post(path, {}),
      });
      if (done) status.say(`${label} requested.`);
    });
    return button;
  };
  const boot = host.boot_timestamp ? when(host.boot_timestamp) : null;
  return section(
    "Host",
    facts([
      ["Operating system", host.operating_system],
      ["Kernel", host.kernel],
      ["Chassis", host.chassis],
      ["Virtualization", host.virtualization],
      ["Deployment", host.deployment],
      ["CPE", host.cpe],
      ["Architecture", info.arch],
      ["Machine", info.machine],
      ["Time zone", host.timezone],
      ["Clock (UTC)", host.dt_utc ? when(host.dt_utc) : null],
      ["NTP", host.use_ntp === null || host.use_ntp === undefined ? null : host.use_ntp ? (host.dt_synchronized ? "on, synchronized" : "on, not synchronized") : "off"],
      ["Booted", boot],
      ["Disk", host.disk_total ? `${host.disk_used} GiB used of ${host.disk_total} GiB (${host.disk_free} GiB free)` : null],
      ["Disk life time used", host.disk_life_time !== null && host.disk_life_time !== undefined ? `${host.disk_life_time} %` : null],
      ["OS agent", host.agent_version],
      ["Features", (host.features || []).join(", ")],
    ]),
    form,
    h("div", { class: "actions" }, power("reboot", "Reboot", "/host/reboot", "Reboot the host?"), power("shutdown", "Shut down", "/host/shutdown", "Shut the host down?")),
    errors.el,
    status.el,
  );
}

const METHODS = ["auto", "static", "disabled"];

function select(name, values, current, labels = {}) {
  const el = h("select", { name });
  for (const value of values) el.append(h("option", { value, text: labels[value] || value, selected: value === current }));
  if (current && !values.includes(current)) el.append(h("option", { value: current, text: current, selected: true }));
  return el;
}

const list = (value) => value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

/** The fields of one IP family; `read()` gives its part of the update body. */
function ipFields(family, ip) {
  const method = select(`${family}.method`, METHODS, ip.method);
  const address = h("input", { type: "text", name: `${family}.address`, value: (ip.address || []).join(", "), autocomplete: "off", spellcheck: "false" });
  const gateway = h("input", { type: "text", name: `${family}.gateway`, value: ip.gateway || "", autocomplete: "off", spellcheck: "false" });
  const nameservers = h("input", { type: "text", name: `${family}.nameservers`, value: (ip.nameservers || []).join(", "), autocomplete: "off", spellcheck: "false" });
  const example = family === "ipv4" ? "192.168.1.5/24" : "2001:db8::5/64";
  const staticOnly = h(
    "div",
    { class: "row-fields" },
    field("Addresses", address, `With prefix, e.g. ${example}; comma-separated.`),
    field("Gateway", gateway),
  );
  const extra = [];
  let addrGen = null;
  let privacy = null;
  if (family === "ipv6") {
    addrGen = select("ipv6.addr_gen_mode", ["default", "eui64", "stable-privacy", "default-or-eui64"], ip.addr_gen_mode);
    privacy = select("ipv6.ip6_privacy", ["default", "disabled", "enabled-prefer-public", "enabled"], ip.ip6_privacy);
    extra.push(h("div", { class: "row-fields" }, field("Address generation", addrGen), field("Privacy extensions", privacy)));
  }
  const dns = field("DNS servers", nameservers, "Comma-separated.");
  const sync = () => {
    staticOnly.hidden = method.value !== "static";
    dns.hidden = method.value === "disabled";
  };
  method.addEventListener("change", sync);
  sync();
  const set = h("fieldset", {}, h("legend", { text: family === "ipv4" ? "IPv4" : "IPv6" }), field("Method", method), staticOnly, dns, extra);
  const read = () => {
    const body = { method: method.value };
    if (method.value === "static") {
      body.address = list(address.value);
      if (gateway.value.trim()) body.gateway = gateway.value.trim();
    }
    if (method.value !== "disabled") body.nameservers = list(nameservers.value);
    if (addrGen) body.addr_gen_mode = addrGen.value;
    if (privacy) body.ip6_privacy = privacy.value;
    return body;
  };
  return { el: set, read };
}

function interfaceCard(iface, refresh) {
  const errors = errorBox();
  const status = statusLine();
  const ipv4 = ipFields("ipv4", iface.ipv4 || {});
  const ipv6 = ipFields("ipv6", iface.ipv6 || {});
  const parts = [ipv4.el, ipv6.el];
  let wifi = null;
  if (iface.type === "wireless") {
    const mode = select("wifi.mode", ["infrastructure", "mesh", "adhoc", "ap"], iface.wifi?.mode || "infrastructure");
    const ssid = h("input", { type: "text", name: "wifi.ssid", value: iface.wifi?.ssid || "", autocomplete: "off" });
    const auth = select("wifi.auth", ["open", "wep", "wpa-psk"], iface.wifi?.auth || "wpa-psk");
    const psk = h("input", { type: "password", name: "wifi.psk", autocomplete: "new-password" });
    parts.push(h("fieldset", {}, h("legend", { text: "Wireless" }), h("div", { class: "row-fields" }, field("Network (SSID)", ssid), field("Mode", mode), field("Security", auth), field("Key", psk, "Left empty, the key stays as it is."))));
    wifi = () => {
      const body = { mode: mode.value, ssid: ssid.value, auth: auth.value };
      if (psk.value) body.psk = psk.value;
      return body;
    };
  }
  const mdns = select("mdns", ["default", "off", "resolve", "announce"], iface.mdns || "default");
  const llmnr = select("llmnr", ["default", "off", "resolve", "announce"], iface.llmnr || "default");
  parts.push(h("div", { class: "row-fields" }, field("mDNS", mdns), field("LLMNR", llmnr)));
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: iface.enabled });
  const save = h("button", { type: "submit", class: "primary", "data-test": "save-interface", text: "Save" });
  const form = h("form", { novalidate: true, "aria-label": `${iface.interface} settings` }, checkField("Enabled", enabled), parts, errors.el, h("div", { class: "actions" }, save), status.el);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, errors, async () => {
      const body = { enabled: enabled.checked };
      if (enabled.checked) {
        body.ipv4 = ipv4.read();
        body.ipv6 = ipv6.read();
        if (wifi) body.wifi = wifi();
        body.mdns = mdns.value;
        body.llmnr = llmnr.value;
      }
      await post(`/network/interface/${enc(iface.interface)}/update`, body);
      status.say("Saved.");
      refresh();
    });
  });
  const now = [
    ["Type", iface.type],
    ["MAC", iface.mac],
    ["IPv4", (iface.ipv4?.address || []).join(", ") || null],
    ["IPv4 gateway", iface.ipv4?.gateway],
    ["IPv6", (iface.ipv6?.address || []).join(", ") || null],
    ["Wireless network", iface.wifi ? `${iface.wifi.ssid}${iface.wifi.signal !== null && iface.wifi.signal !== undefined ? ` (${iface.wifi.signal} %)` : ""}` : null],
    ["VLAN", iface.vlan ? `${iface.vlan.id} on ${iface.vlan.parent}` : null],
  ];
  const state = [iface.connected ? badge("connected", "good") : badge("not connected"), iface.primary ? [" ", badge("primary")] : null];
  const title = h("h3", {}, iface.interface, " ", state);
  return h("article", { class: "interface", "data-test": "interface", "data-interface": iface.interface }, title, facts(now), h("details", { open: true }, h("summary", { text: "Settings" }), form));
}

function networkSection(network, refresh) {
  const cards = (network.interfaces || []).map((iface) => interfaceCard(iface, refresh));
  const docker = network.docker || {};
  return section(
    "Network",
    facts([
      ["Internet (host)", network.host_internet === null || network.host_internet === undefined ? null : network.host_internet ? "yes" : "no"],
      ["Internet (supervisor)", network.supervisor_internet ? "yes" : "no"],
      ["Container network", docker.address ? `${docker.interface} ${docker.address}, gateway ${docker.gateway}` : null],
    ]),
    cards.length ? cards : h("p", { class: "muted", text: "No network interface is managed here." }),
  );
}

function osSection(os, panel, signal, refresh) {
  const errors = errorBox();
  const isHaos = Boolean(os.version);
  const body = [];
  body.push(
    facts([
      ["Version", os.version || "Not Home Assistant OS"],
      ["Latest", os.version_latest],
      ["Pending (after reboot)", os.version_pending],
      ["Board", os.board],
      ["Boot slot", os.boot],
      ["Data disk", os.data_disk],
      ...Object.entries(os.boot_slots || {}).map(([name, slot]) => [`Slot ${name}`, [slot.state, slot.status, slot.version].filter(Boolean).join(", ")]),
    ]),
  );
  if (isHaos && os.update_available) {
    const update = h("button", { type: "button", class: "primary", "data-test": "update-os", text: `Update to ${os.version_latest}` });
    update.addEventListener("click", () =>
      busy(update, errors, async () => {
        const ok = await runJob(panel, "Updating the operating system", "Operating system updated; it is used after the next reboot", () => post("/os/update", { background: true }), signal);
        if (ok) refresh();
      }),
    );
    body.push(h("div", { class: "actions" }, update));
  }
  return section("Operating system", h("div", { "data-test": "os-info" }, body), errors.el);
}

function hardwareSection(hardware) {
  const filter = h("input", { type: "search", placeholder: "Filter devices", autocomplete: "off", "aria-label": "Filter devices" });
  const devices = [...(hardware.devices || [])].sort((a, b) => a.subsystem.localeCompare(b.subsystem) || a.name.localeCompare(b.name));
  const tbody = h("tbody");
  const draw = () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = devices.filter((d) => words.every((w) => `${d.name} ${d.subsystem} ${d.dev_path} ${d.by_id || ""}`.toLowerCase().includes(w)));
    replace(
      tbody,
      shown.map((d) =>
        h("tr", {}, h("td", { "data-label": "Device", text: d.dev_path }), h("td", { "data-label": "Subsystem", text: d.subsystem }), h("td", { "data-label": "Stable name", class: "wrap", text: d.by_id || "–" })),
      ),
    );
  };
  filter.addEventListener("input", draw);
  draw();
  const drives = (hardware.drives || []).map((drive) =>
    h(
      "li",
      {},
      h("strong", { text: [drive.vendor, drive.model].filter(Boolean).join(" ") || drive.id }),
      ` ${bytes(drive.size)}`,
      drive.connection_bus ? ` (${drive.connection_bus})` : "",
      (drive.filesystems || []).length ? h("ul", {}, drive.filesystems.map((fs) => h("li", { text: `${fs.device} ${fs.name || ""} ${bytes(fs.size)} ${(fs.mount_points || []).join(", ")}` }))) : null,
    ),
  );
  return section(
    "Hardware",
    h(
      "div",
      { "data-test": "hardware" },
      h("h3", { text: "Drives" }),
      drives.length ? h("ul", { class: "drives" }, drives) : h("p", { class: "muted", text: "No drive is known (UDisks2 does not answer)." }),
      h("h3", { text: `Devices (${devices.length})` }),
      filter,
      h("div", { class: "table-wrap scroll" }, h("table", { class: "responsive" }, h("thead", {}, h("tr", {}, ["Device", "Subsystem", "Stable name"].map((t) => h("th", { scope: "col", text: t })))), tbody)),
    ),
  );
}

function supervisorSection(supervisor, signal) {
  const errors = errorBox();
  const status = statusLine();
  const channel = select("channel", ["stable", "beta", "dev"], supervisor.channel);
  const logging = select("logging", ["debug", "info", "warning", "error", "critical"], supervisor.logging);
  const autoUpdate = h("input", { type: "checkbox", name: "auto_update", checked: supervisor.auto_update });
  const diagnostics = h("input", { type: "checkbox", name: "diagnostics", checked: supervisor.diagnostics === true });
  const save = h("button", { type: "submit", class: "primary", "data-test": "save-supervisor", text: "Save" });
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Supervisor settings" },
    h("div", { class: "row-fields" }, field("Update channel", channel), field("Log level", logging)),
    checkField("Update the supervisor by itself", autoUpdate),
    checkField("Share diagnostics", diagnostics),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, errors, async () => {
      await post("/supervisor/options", { channel: channel.value, logging: logging.value, auto_update: autoUpdate.checked, diagnostics: diagnostics.checked });
      status.say("Saved.");
    });
  });
  const action = (label, path, done, question) => {
    const button = h("button", { type: "button", text: label });
    button.addEventListener("click", async () => {
      if (question && !(await confirmDialog({ title: question, confirmLabel: label }))) return;
      await busy(button, errors, async () => {
        await post(path, {});
        status.say(done);
      });
    });
    return button;
  };
  const logs = logView({ path: () => "/supervisor/logs", hook: "supervisor-logs", label: "Supervisor log", signal });
  logs.load();
  return section(
    "Supervisor",
    facts([
      ["Version", supervisor.version],
      ["Latest", supervisor.version_latest],
      ["IP address", supervisor.ip_address],
    ]),
    form,
    h(
      "div",
      { class: "actions" },
      action("Reload", "/supervisor/reload", "Reloaded: the store, the updates and the host were read again."),
      action("Repair", "/supervisor/repair", "Repaired."),
      action("Restart", "/supervisor/restart", "The supervisor restarts; these pages answer again in a moment.", "Restart the supervisor?"),
    ),
    errors.el,
    status.el,
    h("h3", { text: "Log" }),
    logs.el,
  );
}

async function logsSection(signal, journal) {
  // Without the host's journal there is nothing to list or read; the controls stay, and
  // Refresh tries again.
  const none = { boots: {}, identifiers: [] };
  const [boots, identifiers] = journal
    ? await Promise.all([get("/host/logs/boots", { signal }).catch(() => none), get("/host/logs/identifiers", { signal }).catch(() => none)])
    : [none, none];
  const bootSelect = h("select", { "data-test": "log-boot", name: "boot" }, h("option", { value: "", text: "All boots" }));
  const offsets = Object.keys(boots.boots || {}).sort((a, b) => Number(b) - Number(a));
  for (const offset of offsets) {
    const label = offset === "0" ? "This boot" : `${offset} (${String(boots.boots[offset]).slice(0, 8)})`;
    bootSelect.append(h("option", { value: offset, text: label }));
  }
  const identifierSelect = h("select", { "data-test": "log-identifier", name: "identifier" }, h("option", { value: "", text: "All identifiers" }));
  for (const identifier of [...(identifiers.identifiers || [])].sort()) identifierSelect.append(h("option", { value: identifier, text: identifier }));
  const path = () => {
    let p = "/host/logs";
    if (bootSelect.value) p += `/boots/${enc(bootSelect.value)}`;
    if (identifierSelect.value) p += `/identifiers/${enc(identifierSelect.value)}`;
    return p;
  };
  const view = logView({ path, hook: "host-logs", label: "Host log", controls: [field("Boot", bootSelect), field("Identifier", identifierSelect)], signal, accept: "text/x-log" });
  bootSelect.addEventListener("change", view.load);
  identifierSelect.addEventListener("change", view.load);
  if (journal) view.load();
  const note = journal ? null : h("p", { class: "muted", text: "The host's journal does not answer (systemd-journal-gatewayd is not there)." });
  return section("Host log", note, view.el);
}

export async function render(main, { signal }) {
  const panel = jobPanel();
  const [info, supervisor, host, network, os, hardware] = await Promise.all([
    get("/info", { signal }),
    get("/supervisor/info", { signal }),
    get("/host/info", { signal }),
    get("/network/info", { signal }).catch((error) => ({ error })),
    get("/os/info", { signal }).catch((error) => ({ error })),
    get("/hardware/info", { signal }).catch((error) => ({ error })),
  ]);
  const failed = (title, error, hook) => {
    const errors = errorBox();
    errors.show(error);
    return section(title, hook ? h("div", { "data-test": hook }, errors.el) : errors.el);
  };
  const holder = {
    network: h("div"),
    os: h("div"),
  };
  const refreshNetwork = async () => {
    try {
      replace(holder.network, networkSection(await get("/network/info", { signal }), refreshNetwork));
    } catch (error) {
      if (error.name !== "AbortError") replace(holder.network, failed("Network", error));
    }
  };
  const refreshOs = async () => {
    try {
      replace(holder.os, osSection(await get("/os/info", { signal }), panel, signal, refreshOs));
    } catch (error) {
      if (error.name !== "AbortError") replace(holder.os, failed("Operating system", error, "os-info"));
    }
  };
  replace(holder.network, network.error ? failed("Network", network.error) : networkSection(network, refreshNetwork));
  replace(holder.os, os.error ? failed("Operating system", os.error, "os-info") : osSection(os, panel, signal, refreshOs));
  const logs = await logsSection(signal, (host.features || []).includes("journal"));
  replace(
    main,
    pageTitle("System"),
    panel.el,
    h("div", { class: "grid" }, hostSection(host, info), holder.os),
    holder.network,
    hardware.error ? failed("Hardware", hardware.error, "hardware") : hardwareSection(hardware),
    logs,
    supervisorSection(supervisor, signal),
  );
}
