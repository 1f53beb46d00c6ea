// A log viewer: the last lines of a `.../logs` endpoint in a `<pre>`, and, while "Follow" is on,
// its `/follow` twin read as it streams (plain text, one line per entry, the last lines first
// and then every new one as it is written). Colour escapes are taken out; the view keeps the
// last few thousand lines and stays scrolled to the end unless the reader scrolled up.

import { stream, text } from "./api.js";
import { h, errorBox, checkField, nextId } from "./dom.js";

const KEEP_LINES = 5000;
// Terminal escape sequences (colours, cursor moves) that some programs write to their log.
const ESCAPES = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

/**
 * A log view. `path()` gives the log's path (without `/follow`); `hook` is the `<pre>`'s
 * data-test. `controls` are extra filter controls shown before Follow. Returns `{el, load}`;
 * `load()` reads the log again (after a filter changed). `signal` ends a follow when the page
 * goes away.
 */
export function logView({ path, hook = "logs", label = "Log", controls = [], signal, accept = "text/plain" }) {
  const preId = nextId("log");
  const pre = h("pre", { class: "log", "data-test": hook, id: preId, tabindex: "0", "aria-label": label });
  const errors = errorBox();
  const follow = h("input", { type: "checkbox", "data-test": "follow-logs", "aria-controls": preId });
  const refresh = h("button", { type: "button", text: "Refresh" });
  let following = null;
  let generation = 0;
  let quietEnds = 0;

  const atEnd = () => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  const show = (content) => {
    const lines = content.replace(ESCAPES, "").split("\n");
    pre.textContent = lines.slice(-KEEP_LINES).join("\n");
    pre.scrollTop = pre.scrollHeight;
  };

  const stop = () => {
    if (following) following.abort();
    following = null;
  };

  async function load() {
    stop();
    errors.clear();
    generation += 1;
    const mine = generation;
    const base = path();
    if (follow.checked) {
      const controller = new AbortController();
      following = controller;
      signal?.addEventListener("abort", () => controller.abort(), { once: true });
      let content = "";
      let pending = "";
      let received = false;
      pre.textContent = "";
      pre.setAttribute("aria-busy", "true");
      try {
        await stream(
          `${base}/follow?lines=100&no_colors`,
          (piece) => {
            if (mine !== generation) return;
            received = true;
            pending += piece;
            const cut = pending.lastIndexOf("\n");
            if (cut < 0) return;
            const stick = atEnd();
            content += pending.slice(0, cut + 1).replace(ESCAPES, "");
            pending = pending.slice(cut + 1);
            const lines = content.split("\n");
            if (lines.length > KEEP_LINES) content = lines.slice(-KEEP_LINES).join("\n");
            pre.textContent = content;
            if (stick) pre.scrollTop = pre.scrollHeight;
          },
          { accept, signal: controller.signal },
        );
        if (mine === generation) {
          pre.textContent = content + pending.replace(ESCAPES, "");
          // The log ended (its container stopped, or restarts): it is taken up again for the
          // container that comes next, unless it ended three times in a row with nothing new.
          quietEnds = received ? 0 : quietEnds + 1;
          if (quietEnds < 3 && !controller.signal.aborted) {
            setTimeout(() => {
              if (mine === generation && follow.checked) load();
            }, 1500);
          } else follow.checked = false;
        }
      } catch (error) {
        if (error.name !== "AbortError" && mine === generation) {
          errors.show(error);
          follow.checked = false;
        }
      } finally {
        pre.removeAttribute("aria-busy");
      }
      return;
    }
    pre.setAttribute("aria-busy", "true");
    try {
      const content = await text(`${base}?lines=200&no_colors`, { accept, signal });
      if (mine === generation) show(content);
    } catch (error) {
      if (error.name !== "AbortError" && mine === generation) {
        pre.textContent = "";
        errors.show(error);
      }
    } finally {
      pre.removeAttribute("aria-busy");
    }
  }

  follow.addEventListener("change", () => {
    quietEnds = 0;
    load();
  });
  refresh.addEventListener("click", load);
  signal?.addEventListener("abort", stop, { once: true });

  const el = h(
    "div",
    { class: "log-view" },
    h("div", { class: "toolbar" }, controls, checkField("Follow", follow), refresh),
    errors.el,
    pre,
  );
  return { el, load, stop };
}
