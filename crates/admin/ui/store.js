// The add-on store: every repository's add-ons as cards linking to their page (where they are
// installed with live progress), a search over names and descriptions, the repositories with
// adding and removing one, and reloading the store.

import { get, post, del } from "./api.js";
import { h, replace, errorBox, section, badge, pageTitle, busy, field, statusLine, confirmDialog } from "./dom.js";

const BUILT_IN = new Set(["core", "local"]);

function card(addon) {
  const icon = addon.icon
    ? h("img", { src: `/store/addons/${encodeURIComponent(addon.slug)}/icon`, alt: "", width: "48", height: "48", loading: "lazy" })
    : h("span", { class: "icon-placeholder", "aria-hidden": "true", text: (addon.name || "?").slice(0, 1).toUpperCase() });
  const badges = [];
  if (addon.update_available) badges.push(badge("Update", "warn"));
  else if (addon.installed) badges.push(badge("Installed", "good"));
  if (!addon.available) badges.push(badge("Not available", "bad"));
  if (addon.stage && addon.stage !== "stable") badges.push(badge(addon.stage, "warn"));
  return h(
    "li",
    {},
    h(
      "a",
      { class: "addon-card", href: `#/addon/${encodeURIComponent(addon.slug)}`, "data-test": "store-addon", "data-slug": addon.slug },
      icon,
      h("span", { class: "addon-text" }, h("span", { class: "addon-title", text: addon.name }), h("span", { class: "addon-desc", text: addon.description || "" })),
      h("span", { class: "badges" }, badges),
    ),
  );
}

function matches(addon, words) {
  const haystack = `${addon.name} ${addon.description || ""} ${addon.slug}`.toLowerCase();
  return words.every((word) => haystack.includes(word));
}

function repositoriesSection(repositories, refresh) {
  const errors = errorBox();
  const input = h("input", { type: "url", name: "repository", "data-test": "add-repository", placeholder: "https://github.com/user/addons", autocomplete: "off", required: true });
  const submit = h("button", { type: "submit", class: "primary", "data-test": "add-repository-submit", text: "Add" });
  const status = statusLine();
  const hint = h("p", { class: "hint", id: "repository-hint", text: "A git repository of add-ons; append #branch for another branch." });
  input.setAttribute("aria-describedby", "repository-hint");
  const form = h("form", { class: "inline-form", novalidate: true }, field("Repository URL", input), submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, errors, async () => {
      await post("/store/repositories", { repository: input.value.trim() });
      status.say(`Added ${input.value.trim()}.`);
      input.value = "";
      refresh();
    });
  });
  const rows = repositories.map((repo) => {
    const remove = BUILT_IN.has(repo.source) || BUILT_IN.has(repo.slug)
      ? null
      : h("button", { type: "button", class: "small danger", text: "Remove", "aria-label": `Remove ${repo.name}` });
    remove?.addEventListener("click", () =>
      confirmDialog({
        title: `Remove ${repo.name}?`,
        body: [h("p", { text: "Its add-ons leave the store. Installed add-ons from it must be uninstalled first." })],
        confirmLabel: "Remove",
        danger: true,
        onConfirm: () => del(`/store/repositories/${encodeURIComponent(repo.slug)}`),
      }).then((done) => done && refresh()),
    );
    const url = repo.url && /^https?:\/\//.test(repo.url) ? h("a", { href: repo.url, rel: "noopener noreferrer", target: "_blank", text: repo.url }) : repo.url || repo.source;
    return h("li", { class: "repo" }, h("div", {}, h("strong", { text: repo.name }), h("div", { class: "muted small" }, url), repo.maintainer ? h("div", { class: "muted small", text: repo.maintainer }) : null), remove);
  });
  return section("Repositories", h("ul", { class: "repos" }, rows), form, hint, errors.el, status.el);
}

export async function render(main, { signal }) {
  const storeInfo = await get("/store", { signal });
  const refresh = () => {
    if (!signal.aborted) render(main, { signal }).catch(() => {});
  };
  const addons = [...(storeInfo.addons || [])].sort((a, b) => a.name.localeCompare(b.name));
  const repositories = storeInfo.repositories || [];
  const search = h("input", { type: "search", "data-test": "store-search", placeholder: "Search add-ons", autocomplete: "off", "aria-controls": "store-results" });
  const results = h("div", { id: "store-results", "aria-live": "polite" });
  const count = h("p", { class: "muted", role: "status" });

  const draw = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = addons.filter((addon) => matches(addon, words));
    count.textContent = words.length ? `${shown.length} of ${addons.length} add-ons` : `${addons.length} add-ons`;
    const groups = [];
    for (const repo of repositories) {
      const mine = shown.filter((addon) => addon.repository === repo.slug);
      if (!mine.length) continue;
      groups.push(h("section", { class: "repo-group", "aria-label": repo.name }, h("h2", { text: repo.name }), h("ul", { class: "addon-grid" }, mine.map(card))));
    }
    const orphans = shown.filter((addon) => !repositories.some((repo) => repo.slug === addon.repository));
    if (orphans.length) groups.push(h("section", { class: "repo-group" }, h("h2", { text: "Other" }), h("ul", { class: "addon-grid" }, orphans.map(card))));
    replace(results, groups.length ? groups : h("p", { text: "No add-on matches." }));
  };
  search.addEventListener("input", draw);

  const reloadErrors = errorBox();
  const reload = h("button", { type: "button", text: "Reload store" });
  reload.addEventListener("click", () =>
    busy(reload, reloadErrors, async () => {
      await post("/store/reload", {});
      refresh();
    }),
  );

  replace(
    main,
    pageTitle("Add-on store"),
    h("div", { class: "toolbar" }, field("Search", search), reload),
    reloadErrors.el,
    count,
    results,
    repositoriesSection(repositories, refresh),
  );
  draw();
}
