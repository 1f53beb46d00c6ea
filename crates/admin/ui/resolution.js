// Repairs (the resolution center): why the system is unsupported or unhealthy, the issues found
// with the suggestions that fix them (applied or dismissed here), dismissing an issue, and the
// checks, each of which can be turned off or run now.

import { get, post, del } from "./api.js";
import { h, replace, errorBox, section, pageTitle, busy, badge, statusLine, confirmDialog } from "./dom.js";

const enc = encodeURIComponent;

const SUGGESTIONS = {
  adopt_data_disk: "Use the new data disk",
  clear_full_backup: "Delete old full backups",
  clear_port_config: "Reset the port settings",
  create_full_backup: "Make a full backup",
  disable_boot: "Do not start it at boot",
  enable_ntp: "Turn on time synchronization",
  execute_reboot: "Reboot",
  execute_rebuild: "Rebuild",
  execute_reload: "Reload",
  execute_remove: "Remove",
  execute_repair: "Repair",
  execute_reset: "Reset",
  execute_restart: "Restart",
  execute_start: "Start",
  execute_stop: "Stop",
  execute_update: "Update",
  move_local_data: "Move the local data",
  registry_login: "Log in to the registry",
  rename_data_disk: "Rename the data disk",
};

const readable = (name) => String(name).replace(/_/g, " ");

function issueCard(issue, refresh, signal) {
  const errors = errorBox();
  const status = statusLine();
  const fixes = h("ul", { class: "fixes", "aria-label": "Suggested fixes" });
  const where = [issue.context, issue.reference].filter(Boolean).join(": ");
  const dismiss = h("button", { type: "button", class: "small", "data-test": "dismiss-issue", text: "Dismiss issue" });
  dismiss.addEventListener("click", () =>
    busy(dismiss, errors, async () => {
      await del(`/resolution/issue/${enc(issue.uuid)}`);
      refresh();
    }),
  );
  get(`/resolution/issue/${enc(issue.uuid)}/suggestions`, { signal })
    .then(({ suggestions }) => {
      for (const suggestion of suggestions || []) {
        const label = SUGGESTIONS[suggestion.type] || readable(suggestion.type);
        const apply = h("button", { type: "button", class: "primary small", "data-test": "apply-suggestion", "data-suggestion": suggestion.type, text: label });
        const skip = h("button", { type: "button", class: "small", "data-test": "dismiss-suggestion", "data-suggestion": suggestion.type, text: "Skip", "aria-label": `Skip: ${label}` });
        apply.addEventListener("click", async () => {
          const confirmed = await confirmDialog({ title: `${label}?`, body: [h("p", { text: `To fix: ${readable(issue.type)}${where ? ` (${where})` : ""}.` })], confirmLabel: label });
          if (!confirmed) return;
          await busy([apply, skip], errors, async () => {
            await post(`/resolution/suggestion/${enc(suggestion.uuid)}`, {});
            status.say(`${label}: done.`);
            refresh();
          });
        });
        skip.addEventListener("click", () =>
          busy([apply, skip], errors, async () => {
            await del(`/resolution/suggestion/${enc(suggestion.uuid)}`);
            refresh();
          }),
        );
        fixes.append(h("li", {}, apply, skip, suggestion.auto ? h("span", { class: "muted small", text: "applied by itself when it can" }) : null));
      }
    })
    .catch((error) => {
      if (error.name !== "AbortError") errors.show(error);
    });
  return h(
    "li",
    { class: "issue", "data-test": "issue", "data-type": issue.type },
    h("p", {}, h("strong", { text: readable(issue.type) }), where ? h("span", { class: "muted", text: ` – ${where}` }) : null),
    fixes,
    h("div", { class: "actions" }, dismiss),
    errors.el,
    status.el,
  );
}

function checksSection(checks, refresh) {
  const rows = [...checks]
    .sort((a, b) => a.slug.localeCompare(b.slug))
    .map((check) => {
      const errors = errorBox();
      const toggle = h("input", { type: "checkbox", role: "switch", checked: check.enabled, "aria-label": `${readable(check.slug)} enabled` });
      const run = h("button", { type: "button", class: "small", text: "Run", "aria-label": `Run ${readable(check.slug)}` });
      toggle.addEventListener("change", async () => {
        const wanted = toggle.checked;
        const ok = await busy(toggle, errors, async () => {
          await post(`/resolution/check/${enc(check.slug)}/options`, { enabled: wanted });
          return true;
        });
        if (!ok) toggle.checked = !wanted;
      });
      run.addEventListener("click", () =>
        busy(run, errors, async () => {
          await post(`/resolution/check/${enc(check.slug)}/run`, {});
          refresh();
        }),
      );
      return h("tr", {}, h("th", { scope: "row", text: readable(check.slug) }), h("td", {}, toggle), h("td", {}, run, errors.el));
    });
  return section(
    "Checks",
    h("div", { class: "table-wrap" }, h("table", { class: "checks" }, h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Check" }), h("th", { scope: "col", text: "Enabled" }), h("th", { scope: "col", text: "Run now" }))), h("tbody", {}, rows))),
  );
}

export async function render(main, { signal }) {
  const info = await get("/resolution/info", { signal });
  const refresh = () => {
    if (!signal.aborted) render(main, { signal }).catch(() => {});
  };
  const errors = errorBox();
  const healthcheck = h("button", { type: "button", class: "small", "data-test": "healthcheck", text: "Check the system now" });
  healthcheck.addEventListener("click", () =>
    busy(healthcheck, errors, async () => {
      await post("/resolution/healthcheck", {});
      refresh();
    }),
  );
  const reasons = [
    ...(info.unsupported || []).map((r) => h("li", {}, badge("unsupported", "warn"), " ", readable(r))),
    ...(info.unhealthy || []).map((r) => h("li", {}, badge("unhealthy", "bad"), " ", readable(r))),
  ];
  const issues = (info.issues || []).map((issue) => issueCard(issue, refresh, signal));
  replace(
    main,
    pageTitle("Repairs"),
    h("div", { class: "toolbar" }, healthcheck),
    errors.el,
    section("System", reasons.length ? h("ul", { class: "reasons" }, reasons) : h("p", { text: "The system is supported and healthy." })),
    section("Issues", issues.length ? h("ul", { class: "issues", "data-test": "issues" }, issues) : h("p", { class: "muted", "data-test": "issues", text: "No issue was found." })),
    checksSection(info.checks || [], refresh),
  );
}
