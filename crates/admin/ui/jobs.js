// Jobs: following one over `/jobs/<uuid>/follow` (server-sent events, one `job` event per change,
// the stream ends after the event in which `done` is true) and the progress panel pages show
// while a job they started runs.

import { events, get, ApiError } from "./api.js";
import { h, messageOf } from "./dom.js";

/**
 * Follows a job until it ends: `onJob(job)` for each state. Resolves to its last state. A job
 * that is already gone (the supervisor forgot it or restarted) resolves to its last known state.
 */
export async function followJob(uuid, onJob, signal) {
  let last = null;
  try {
    await events(
      `/jobs/${encodeURIComponent(uuid)}/follow`,
      (name, data) => {
        if (name !== "job") return;
        try {
          last = JSON.parse(data);
        } catch {
          return;
        }
        onJob(last);
      },
      { signal },
    );
  } catch (error) {
    if (error.name === "AbortError") throw error;
    if (!(error instanceof ApiError) || error.status !== 404) {
      // The stream broke (the supervisor restarting, the network): ask once for the state.
      try {
        last = await get(`/jobs/${encodeURIComponent(uuid)}`, { signal });
        onJob(last);
      } catch {
        if (!last) throw error;
      }
    }
  }
  return last;
}

/**
 * The job's progress as shown: its own, or further when one of its children is further; 100
 * only once the job itself is done.
 */
export function progressOf(job) {
  if (!job) return 0;
  if (job.done) return 100;
  let progress = Number(job.progress) || 0;
  for (const child of job.child_jobs || []) progress = Math.max(progress, progressOf(child));
  return Math.min(99, Math.max(0, progress));
}

/** The deepest running stage, for a line under the bar. */
function stageOf(job) {
  const running = (job.child_jobs || []).filter((child) => child.done === false);
  if (running.length) return stageOf(running[running.length - 1]);
  return [job.name, job.stage].filter(Boolean).join(": ");
}

/** Every error of a job and its children. */
export function jobErrors(job) {
  if (!job) return [];
  const mine = (job.errors || []).map((e) => e.message || e.type);
  return mine.concat(...(job.child_jobs || []).map(jobErrors));
}

/**
 * A panel showing a job's progress: `<progress data-test="job-progress" max="100">` with the
 * job's stage, and the job's errors (role=alert) when it failed. It stays visible after the job
 * ended (at 100) so the outcome can be read.
 */
export function jobPanel() {
  const label = h("span", { class: "job-label" });
  // The hook appears with the first job, so that finding it means a job was started.
  const bar = h("progress", { max: "100", value: "0" });
  const stage = h("span", { class: "job-stage" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const el = h(
    "div",
    { class: "job-panel", role: "status", "aria-live": "polite", hidden: true },
    h("div", { class: "job-head" }, label, stage),
    bar,
    error,
  );
  bar.setAttribute("aria-label", "Job progress");
  return {
    el,
    /** Shows a job starting: what it is. */
    start(text) {
      el.hidden = false;
      bar.dataset.test = "job-progress";
      label.textContent = text;
      stage.textContent = "";
      bar.value = 0;
      error.hidden = true;
      error.textContent = "";
      delete error.dataset.test;
    },
    update(job) {
      bar.value = progressOf(job);
      stage.textContent = job.done ? "" : stageOf(job);
    },
    /** The job ended: the bar at 100, and its errors if any; resolves the text shown. */
    finish(job, doneText) {
      bar.value = 100;
      stage.textContent = "";
      const errors = jobErrors(job);
      if (errors.length) {
        error.textContent = errors.join("; ");
        error.dataset.test = "error";
        error.hidden = false;
        label.textContent = `${label.textContent} – failed`;
      } else {
        label.textContent = doneText;
      }
    },
    fail(err) {
      bar.value = 100;
      error.textContent = messageOf(err);
      error.dataset.test = "error";
      error.hidden = false;
    },
  };
}

/**
 * Starts an action that answers `{job_id}` when run with `background: true`, and shows its job
 * in `panel` until it ends. Resolves to true when it succeeded. `start()` does the POST.
 */
export async function runJob(panel, text, doneText, start, signal) {
  panel.start(text);
  let answer;
  try {
    answer = await start();
  } catch (error) {
    panel.fail(error);
    return false;
  }
  const uuid = answer?.job_id;
  if (!uuid) {
    panel.finish({ done: true, errors: [] }, doneText);
    return true;
  }
  try {
    const job = await followJob(uuid, (job) => panel.update(job), signal);
    panel.finish(job || { done: true }, doneText);
    return jobErrors(job).length === 0;
  } catch (error) {
    if (error.name === "AbortError") return false;
    panel.fail(error);
    return false;
  }
}

/** The first job named `name` for `reference` that is still running, among `jobs` and their children. */
function findRunning(jobs, name, reference) {
  for (const job of jobs) {
    if (job.name === name && job.done === false && (!reference || job.reference === reference)) return job;
    const child = findRunning(job.child_jobs || [], name, reference);
    if (child) return child;
  }
  return null;
}

/**
 * Runs an action whose answer comes only when it ended (no `background` option, as the plugins'
 * updates) and shows its job, found by name in `/jobs/info` once it started, followed live in
 * `panel`. Resolves to true when it succeeded.
 */
export async function runAwaitedJob(panel, text, doneText, start, { name, reference }, signal) {
  panel.start(text);
  let settled = false;
  const watch = async () => {
    // The job appears as soon as the action starts; a few looks find it, then its stream follows it.
    for (let look = 0; look < 5 && !settled; look += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250 * (look + 1)));
      if (settled) return;
      const all = await get("/jobs/info", { signal }).catch(() => ({ jobs: [] }));
      const job = findRunning(all.jobs || [], name, reference);
      if (!job) continue;
      await followJob(job.uuid, (state) => settled || panel.update(state), signal).catch(() => {});
      return;
    }
  };
  watch();
  try {
    await start();
  } catch (error) {
    settled = true;
    if (error.name === "AbortError") return false;
    panel.fail(error);
    return false;
  }
  settled = true;
  panel.finish({ done: true, errors: [] }, doneText);
  return true;
}
