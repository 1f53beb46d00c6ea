// Home Assistant Core: its version and settings, update (followed live as a job, with a backup
// first if asked), start, stop, restart, rebuild, its stats, and its log following live.

import { get, post } from "./api.js";
import { h, replace, errorBox, section, facts, pageTitle, busy, checkField, confirmDialog, statusLine, actionRow, statsFacts } from "./dom.js";
import { jobPanel, runJob } from "./jobs.js";
import { logView } from "./logs.js";

function actions(core, page) {
  const errors = errorBox();
  const status = statusLine();
  const { buttons, add: button } = actionRow(errors);
  if (core.update_available) {
    button("update", `Update to ${core.version_latest}`, "primary", async () => {
      const backup = h("input", { type: "checkbox", name: "backup", checked: true });
      const confirmed = await confirmDialog({
        title: `Update Home Assistant Core to ${core.version_latest}?`,
        body: [checkField("Make a backup of Core first", backup)],
        confirmLabel: "Update",
      });
      if (!confirmed) return;
      await runJob(page.panel, "Updating Home Assistant Core", `Home Assistant Core updated to ${core.version_latest}`, () => post("/core/update", { backup: backup.checked, background: true }), page.signal);
      await page.redraw();
    });
  }
  if (!core.version) return [h("p", { class: "muted", text: "Home Assistant Core is not installed; the supervisor installs it at start unless told not to." }), errors.el, status.el];
  button("restart", "Restart", "", async () => {
    await post("/core/restart", {});
    status.say("Home Assistant Core restarted.");
  });
  button("start", "Start", "", async () => {
    await post("/core/start", {});
    status.say("Home Assistant Core started.");
  });
  button("stop", "Stop", "", async () => {
    const confirmed = await confirmDialog({ title: "Stop Home Assistant Core?", confirmLabel: "Stop", danger: true });
    if (!confirmed) return;
    await post("/core/stop", {});
    status.say("Home Assistant Core stopped.");
  });
  button("rebuild", "Rebuild", "", async () => {
    await post("/core/rebuild", {});
    status.say("Home Assistant Core rebuilt.");
  });
  return [h("div", { class: "actions" }, buttons), errors.el, status.el];
}

function statsSection(signal, installed) {
  const body = h("div", { "data-test": "stats", "aria-live": "polite" });
  const refresh = h("button", { type: "button", class: "small", text: "Refresh" });
  const load = () =>
    busy(refresh, null, async () => {
      let stats;
      try {
        stats = await get("/core/stats", { signal });
      } catch (error) {
        if (error.name === "AbortError") return;
        replace(body, h("p", { class: "muted", text: error.message }));
        return;
      }
      replace(body, statsFacts(stats));
    });
  refresh.addEventListener("click", load);
  if (installed) load();
  else replace(body, h("p", { class: "muted", text: "Home Assistant Core is not installed." }));
  return section("Stats", body, h("div", { class: "actions" }, refresh));
}

export async function render(main, { signal }) {
  const page = { panel: jobPanel(), signal };
  page.redraw = async () => {
    const core = await get("/core/info", { signal });
    if (signal.aborted) return;
    const logs = logView({ path: () => "/core/logs", label: "Home Assistant Core log", signal });
    replace(
      main,
      pageTitle("Home Assistant Core"),
      page.panel.el,
      h(
        "div",
        { class: "grid" },
        section(
          "Core",
          h("p", { class: "big" }, "Version ", h("strong", { "data-test": "core-version", text: core.version || "not installed" })),
          facts([
            ["Latest", core.version_latest],
            ["Machine", core.machine],
            ["Image", core.image],
            ["Port", core.port],
            ["SSL", core.ssl ? "yes" : "no"],
            ["Start on boot", core.boot ? "yes" : "no"],
            ["Watchdog", core.watchdog ? "on" : "off"],
            ["Backups leave out the database", core.backups_exclude_database ? "yes" : "no"],
          ]),
          actions(core, page),
        ),
        statsSection(signal, Boolean(core.version)),
      ),
      section("Log", logs.el),
    );
    logs.load();
  };
  await page.redraw();
}
