// The dashboard: the supervisor's version and health (supported, healthy and the reasons when
// not), the updates available with a one-click update each, the host and its disk, and the jobs
// running now, each followed live over its `/follow` stream.

import { get, post } from "./api.js";
import { h, replace, errorBox, section, facts, badge, pageTitle, busy, statusLine } from "./dom.js";
import { followJob, progressOf, jobErrors, runJob, jobPanel } from "./jobs.js";

/** What each update type is called and how it is started (`background`: answer with a job). */
function updateAction(update) {
  switch (update.update_type) {
    case "core":
      return { name: "core", label: "Home Assistant Core", start: () => post("/core/update", { background: true }) };
    case "supervisor":
      return { name: "supervisor", label: "Supervisor", start: () => post("/supervisor/update", { background: true }) };
    case "os":
      return { name: "os", label: "Operating system", start: () => post("/os/update", { background: true }) };
    default: {
      const slug = update.panel_path.replace(/^\/update-available\//, "");
      return {
        name: slug,
        label: update.name || slug,
        start: () => post(`/store/addons/${encodeURIComponent(slug)}/update`, { background: true }),
        link: `#/addon/${encodeURIComponent(slug)}`,
      };
    }
  }
}

function healthSection(supervisor, resolution) {
  const reasons = [];
  for (const reason of resolution.unsupported || []) reasons.push(h("li", {}, badge("unsupported", "warn"), " ", reason));
  for (const reason of resolution.unhealthy || []) reasons.push(h("li", {}, badge("unhealthy", "bad"), " ", reason));
  const summary = [];
  summary.push(supervisor.supported ? badge("Supported", "good") : badge("Unsupported", "warn"));
  summary.push(" ");
  summary.push(supervisor.healthy ? badge("Healthy", "good") : badge("Unhealthy", "bad"));
  const issues = (resolution.issues || []).length;
  return h(
    "div",
    { "data-test": "health", class: "health" },
    h("p", {}, summary),
    reasons.length ? h("ul", { class: "reasons", "aria-label": "Reasons" }, reasons) : null,
    issues ? h("p", {}, h("a", { href: "#/resolution", text: `${issues} issue${issues === 1 ? "" : "s"} to look at` })) : null,
  );
}

function updatesSection(updates, panel, signal, refresh, lookForJobs) {
  const errors = errorBox();
  const rows = updates.map((update) => {
    const action = updateAction(update);
    const button = h("button", { type: "button", class: "primary", "data-test": `update-${action.name}`, text: "Update" });
    button.setAttribute("aria-label", `Update ${action.label} to ${update.version_latest}`);
    button.addEventListener("click", async () => {
      errors.clear();
      await busy(button, errors, async () => {
        const start = async () => {
          const answer = await action.start();
          lookForJobs();
          return answer;
        };
        const ok = await runJob(panel, `Updating ${action.label}`, `${action.label} updated`, start, signal);
        if (ok) refresh();
      });
    });
    const name = action.link ? h("a", { href: action.link, text: action.label }) : action.label;
    return h("li", { class: "update" }, h("span", {}, name, " ", h("span", { class: "muted", text: update.version_latest })), button);
  });
  const check = h("button", { type: "button", class: "small", text: "Check for updates" });
  const status = statusLine();
  check.addEventListener("click", () =>
    busy(check, errors, async () => {
      await post("/refresh_updates", {});
      status.say("Checked for updates.");
      lookForJobs();
      refresh();
    }),
  );
  return section(
    "Updates",
    rows.length ? h("ul", { class: "updates" }, rows) : h("p", { class: "muted", text: "Everything is up to date." }),
    panel.el,
    errors.el,
    h("div", { class: "actions" }, check),
    status.el,
  );
}

function hostSection(info, host) {
  const used = host.disk_used ?? null;
  const total = host.disk_total ?? null;
  const meter = total ? h("meter", { min: "0", max: String(total), value: String(used), high: String(total * 0.9), optimum: "0" }) : null;
  if (meter) meter.setAttribute("aria-label", "Disk used");
  return section(
    "Host",
    facts([
      ["Host name", host.hostname],
      ["Operating system", host.operating_system],
      ["Machine", info.machine],
      ["Architecture", info.arch],
      ["Home Assistant", info.homeassistant],
      ["Docker", info.docker],
      ["Time zone", info.timezone],
    ]),
    h(
      "div",
      { class: "disk", "data-test": "disk" },
      h("p", {}, `Disk: ${used ?? "–"} GiB used of ${total ?? "–"} GiB (${host.disk_free ?? "–"} GiB free)`),
      meter,
    ),
  );
}

function jobRow(job, signal, onEnd) {
  const bar = h("progress", { max: "100", value: String(progressOf(job)) });
  bar.setAttribute("aria-label", `${job.reference ? `${job.name} (${job.reference})` : job.name} progress`);
  const stage = h("span", { class: "muted", text: job.stage || "" });
  const error = h("span", { class: "error", role: "alert", hidden: true });
  const title = job.reference ? `${job.name} (${job.reference})` : job.name;
  const row = h("li", { "data-test": "job", "data-uuid": job.uuid }, h("div", { class: "job-head" }, h("span", { text: title }), stage), bar, error);
  followJob(
    job.uuid,
    (state) => {
      bar.value = progressOf(state);
      stage.textContent = state.stage || "";
    },
    signal,
  )
    .then((state) => {
      bar.value = 100;
      const errors = jobErrors(state);
      if (errors.length) {
        error.textContent = errors.join("; ");
        error.hidden = false;
      }
      onEnd(row);
    })
    .catch(() => onEnd(row));
  return row;
}

function jobsSection(jobs, signal) {
  const list = h("ul", { "data-test": "jobs", class: "jobs", "aria-live": "polite" });
  const empty = h("p", { class: "muted", text: "No job is running." });
  const errors = errorBox();
  const ended = (row) => {
    setTimeout(() => {
      if (row.querySelector(".error:not([hidden])")) return;
      row.remove();
      empty.hidden = list.children.length > 0;
    }, 1500);
  };
  // Each running job is followed on its own stream; the API has no stream of new jobs, so the
  // list is read again when the page comes back into view and after each action it starts.
  const show = (all) => {
    const known = new Set([...list.children].map((row) => row.dataset.uuid));
    for (const job of all.filter((j) => j.done === false && !known.has(j.uuid))) list.append(jobRow(job, signal, ended));
    empty.hidden = list.children.length > 0;
  };
  show(jobs);
  const look = async () => {
    try {
      show((await get("/jobs/info", { signal })).jobs || []);
      errors.clear();
    } catch (error) {
      if (error.name !== "AbortError") errors.show(error);
    }
  };
  return { el: section("Running jobs", list, empty, errors.el), look };
}

// The listeners of the dashboard as last drawn: drawing it again replaces them.
let drawn = null;

/** Renders the dashboard; `panel` (kept when it is drawn again) shows the last update's job. */
export async function render(main, { signal }, panel = jobPanel()) {
  const [info, supervisor, resolution, host, updates, jobs] = await Promise.all([
    get("/info", { signal }),
    get("/supervisor/info", { signal }),
    get("/resolution/info", { signal }).catch(() => ({})),
    get("/host/info", { signal }).catch(() => ({})),
    get("/available_updates", { signal }).catch(() => ({ available_updates: [] })),
    get("/jobs/info", { signal }).catch(() => ({ jobs: [] })),
  ]);
  const refresh = () => {
    if (!signal.aborted) render(main, { signal }, panel).catch(() => {});
  };
  const running = jobsSection(jobs.jobs || [], signal);
  drawn?.abort();
  const mine = new AbortController();
  drawn = mine;
  signal.addEventListener("abort", () => mine.abort(), { once: true });
  const again = () => {
    if (document.visibilityState === "visible") running.look();
  };
  document.addEventListener("visibilitychange", again, { signal: mine.signal });
  window.addEventListener("focus", again, { signal: mine.signal });
  const focused = document.activeElement?.dataset?.test;
  replace(
    main,
    pageTitle("Dashboard"),
    h(
      "div",
      { class: "grid" },
      section(
        "Supervisor",
        h("p", { class: "big" }, "Version ", h("strong", { "data-test": "supervisor-version", text: supervisor.version })),
        facts([
          ["Latest", supervisor.version_latest],
          ["Channel", supervisor.channel],
          ["State", info.state],
        ]),
        healthSection(supervisor, resolution),
      ),
      updatesSection(updates.available_updates || [], panel, signal, refresh, running.look),
      hostSection(info, host),
      running.el,
    ),
  );
  if (focused) main.querySelector(`[data-test="${focused}"]`)?.focus();
}
