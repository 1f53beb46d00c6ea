// A small Markdown renderer for add-on documentation and changelogs, which come from add-on
// repositories anyone may publish: it builds DOM nodes with createElement and textContent only,
// so nothing in the text can become markup or script. It knows headings, paragraphs, lists
// (nested by indentation), block quotes, fenced and indented code, tables, rules, and inline
// code, emphasis, strike-through and links. Links are kept only for http(s) addresses; raw HTML
// is shown as the text it is (HTML comments are dropped); images are shown as their text.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const TABLE_RULE = /^ {0,3}\|?(?:\s*:?-+:?\s*\|)+\s*(?::?-+:?\s*)?\|?\s*$|^ {0,3}\|?\s*:?-+:?\s*\|\s*$/;
const SETEXT = /^ {0,3}(=+|-+)[ \t]*$/;

/** Renders `source` into a `<div class="markdown">`; `headingBase` is the level of `#`. */
export function renderMarkdown(source, headingBase = 3) {
  const root = document.createElement("div");
  root.className = "markdown";
  const text = String(source ?? "")
    .replace(/\r\n?/g, "\n")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/\t/g, "    ");
  blocks(text.split("\n"), root, headingBase);
  return root;
}

function el(tag, ...children) {
  const node = document.createElement(tag);
  for (const child of children) node.append(child);
  return node;
}

function indentOf(line) {
  return line.match(/^ */)[0].length;
}

function isBlank(line) {
  return line.trim() === "";
}

/** Parses lines into block elements appended to `parent`. */
function blocks(lines, parent, base) {
  let i = 0;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) parent.append(inlineBlock("p", paragraph.join("\n").trimEnd()));
    paragraph = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      flush();
      i += 1;
      continue;
    }
    const fence = line.match(FENCE);
    if (fence) {
      flush();
      const marker = fence[1];
      const code = [];
      i += 1;
      while (i < lines.length) {
        const close = lines[i].trim();
        if (close.startsWith(marker[0].repeat(marker.length)) && /^([`~])\1*$/.test(close)) break;
        code.push(lines[i]);
        i += 1;
      }
      i += 1;
      const codeEl = el("code", code.join("\n"));
      if (fence[2]) codeEl.className = `language-${fence[2].replace(/[^\w-]/g, "")}`;
      parent.append(el("pre", codeEl));
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      flush();
      const level = Math.min(6, heading[1].length + base - 1);
      parent.append(inlineBlock(`h${level}`, heading[2] || ""));
      i += 1;
      continue;
    }
    const setext = line.match(SETEXT);
    if (setext && paragraph.length) {
      const level = Math.min(6, (setext[1][0] === "=" ? 1 : 2) + base - 1);
      parent.append(inlineBlock(`h${level}`, paragraph.join("\n")));
      paragraph = [];
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      flush();
      parent.append(document.createElement("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && !isBlank(lines[i]) && (QUOTE.test(lines[i]) || quoted.length)) {
        const m = lines[i].match(QUOTE);
        quoted.push(m ? m[1] : lines[i]);
        i += 1;
      }
      const quote = document.createElement("blockquote");
      blocks(quoted, quote, base);
      parent.append(quote);
      continue;
    }
    const item = line.match(ITEM);
    if (item && (!paragraph.length || item[3])) {
      flush();
      i = list(lines, i, parent, base);
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]) && !paragraph.length) {
      i = table(lines, i, parent);
      continue;
    }
    if (indentOf(line) >= 4 && !paragraph.length) {
      const code = [];
      while (i < lines.length && (indentOf(lines[i]) >= 4 || isBlank(lines[i]))) {
        code.push(lines[i].slice(4));
        i += 1;
      }
      while (code.length && isBlank(code[code.length - 1])) code.pop();
      parent.append(el("pre", el("code", code.join("\n"))));
      continue;
    }
    // Leading spaces go; trailing ones stay, two of them being a hard line break.
    paragraph.push(line.trimStart());
    i += 1;
  }
  flush();
}

/** A list starting at `lines[start]`; returns the index after it. */
function list(lines, start, parent, base) {
  const first = lines[start].match(ITEM);
  const ordered = /\d/.test(first[2]);
  const listEl = document.createElement(ordered ? "ol" : "ul");
  if (ordered) {
    const number = parseInt(first[2], 10);
    if (number !== 1) listEl.setAttribute("start", String(number));
  }
  const baseIndent = first[1].length;
  let i = start;
  let loose = false;
  const items = [];
  while (i < lines.length) {
    const m = lines[i].match(ITEM);
    if (!m || m[1].length !== baseIndent || /\d/.test(m[2]) !== ordered) break;
    const contentIndent = baseIndent + m[2].length + 1;
    const body = [m[3] || ""];
    i += 1;
    let blankBefore = false;
    while (i < lines.length) {
      const line = lines[i];
      if (isBlank(line)) {
        blankBefore = true;
        body.push("");
        i += 1;
        continue;
      }
      const indent = indentOf(line);
      const sibling = line.match(ITEM);
      if (sibling && sibling[1].length <= baseIndent) break;
      if (indent >= Math.min(contentIndent, baseIndent + 2)) {
        body.push(line.slice(Math.min(indent, contentIndent)));
      } else if (!blankBefore && !sibling && !FENCE.test(line) && !HEADING.test(line)) {
        body.push(line.trim());
      } else {
        break;
      }
      blankBefore = false;
      i += 1;
    }
    let trailingBlank = false;
    while (body.length && isBlank(body[body.length - 1])) {
      body.pop();
      trailingBlank = true;
    }
    // A blank line between two items of this list makes it loose (paragraphs in its items).
    const next = i < lines.length ? lines[i].match(ITEM) : null;
    if (trailingBlank && next && next[1].length === baseIndent && /\d/.test(next[2]) === ordered) loose = true;
    items.push(body);
  }
  for (const body of items) {
    const li = document.createElement("li");
    const task = body[0].match(/^\[([ xX])\]\s+(.*)$/);
    if (task) {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.disabled = true;
      box.checked = task[1] !== " ";
      li.append(box, " ");
      body[0] = task[2];
    }
    const simple = !loose && !body.some((line, n) => n > 0 && (isBlank(line) || ITEM.test(line) || FENCE.test(line)));
    if (simple) {
      inline(body.map((line) => line.trim()).join("\n"), li);
    } else {
      blocks(body, li, base);
      if (!loose && li.firstElementChild?.tagName === "P") li.firstElementChild.replaceWith(...li.firstElementChild.childNodes);
    }
    listEl.append(li);
  }
  parent.append(listEl);
  return i;
}

function cells(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  const out = [];
  let cell = "";
  for (let i = 0; i < row.length; i += 1) {
    if (row[i] === "\\" && row[i + 1] === "|") {
      cell += "|";
      i += 1;
    } else if (row[i] === "|") {
      out.push(cell.trim());
      cell = "";
    } else cell += row[i];
  }
  out.push(cell.trim());
  return out;
}

/** A GitHub-style table at `lines[start]`; returns the index after it. */
function table(lines, start, parent) {
  const head = cells(lines[start]);
  const aligns = cells(lines[start + 1]).map((spec) =>
    spec.startsWith(":") && spec.endsWith(":") ? "center" : spec.endsWith(":") ? "right" : spec.startsWith(":") ? "left" : "",
  );
  const tableEl = document.createElement("table");
  const thead = document.createElement("thead");
  const headRow = document.createElement("tr");
  head.forEach((text, n) => {
    const th = inlineBlock("th", text);
    th.setAttribute("scope", "col");
    if (aligns[n]) th.className = `align-${aligns[n]}`;
    headRow.append(th);
  });
  thead.append(headRow);
  const tbody = document.createElement("tbody");
  let i = start + 2;
  while (i < lines.length && !isBlank(lines[i]) && lines[i].includes("|")) {
    const row = document.createElement("tr");
    const values = cells(lines[i]);
    head.forEach((_, n) => {
      const td = inlineBlock("td", values[n] ?? "");
      if (aligns[n]) td.className = `align-${aligns[n]}`;
      row.append(td);
    });
    tbody.append(row);
    i += 1;
  }
  tableEl.append(thead, tbody);
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.append(tableEl);
  parent.append(wrap);
  return i;
}

function inlineBlock(tag, text) {
  const node = document.createElement(tag);
  inline(text, node);
  return node;
}

/** An http(s) address, or null: anything else (javascript:, data:, relative) is not a link. */
export function safeUrl(href) {
  try {
    const url = new URL(href.trim());
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function link(href, children) {
  const url = safeUrl(href);
  if (!url) {
    const span = document.createElement("span");
    span.append(...children);
    return span;
  }
  const a = document.createElement("a");
  a.href = url;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  a.append(...children);
  return a;
}

const PUNCTUATION = /[!-/:-@[-`{-~]/;

/** Finds the `]` closing the `[` at `open`, minding nesting and code spans. */
function closingBracket(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i += 1) {
    const c = text[i];
    if (c === "\\") i += 1;
    else if (c === "`") {
      const run = text.slice(i).match(/^`+/)[0];
      const end = text.indexOf(run, i + run.length);
      if (end > 0) i = end + run.length - 1;
    } else if (c === "[") depth += 1;
    else if (c === "]") {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** `(url "title")` right after a `]`: the url and the index after `)`, or null. */
function destination(text, at) {
  if (text[at] !== "(") return null;
  const m = text.slice(at).match(/^\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+("[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/);
  if (!m) return null;
  let url = m[1];
  if (url.startsWith("<")) url = url.slice(1, -1);
  return { url, end: at + m[0].length };
}

/** Parses inline Markdown in `text` into `parent`. */
function inline(text, parent, inLink = false) {
  let buffer = "";
  const out = () => {
    if (buffer) parent.append(document.createTextNode(buffer));
    buffer = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const rest = text.slice(i);
    if (c === "\\" && i + 1 < text.length) {
      if (text[i + 1] === "\n") {
        out();
        parent.append(document.createElement("br"));
        i += 2;
        continue;
      }
      if (PUNCTUATION.test(text[i + 1])) {
        buffer += text[i + 1];
        i += 2;
        continue;
      }
    }
    if (c === "\n") {
      const hard = / {2,}$/.test(buffer);
      buffer = buffer.replace(/ +$/, "");
      out();
      parent.append(hard ? document.createElement("br") : document.createTextNode("\n"));
      i += 1;
      continue;
    }
    if (c === "`") {
      const run = rest.match(/^`+/)[0];
      const end = text.indexOf(run, i + run.length);
      if (end > 0 && text[end + run.length] !== "`") {
        out();
        let code = text.slice(i + run.length, end).replace(/\n/g, " ");
        if (/^ .* $/.test(code) && code.trim()) code = code.slice(1, -1);
        const node = document.createElement("code");
        node.textContent = code;
        parent.append(node);
        i = end + run.length;
        continue;
      }
      buffer += run;
      i += run.length;
      continue;
    }
    if ((c === "!" && text[i + 1] === "[") || (c === "[" && !inLink)) {
      const open = c === "!" ? i + 1 : i;
      const close = closingBracket(text, open);
      const dest = close > 0 ? destination(text, close + 1) : null;
      if (dest) {
        out();
        const label = document.createElement("span");
        inline(text.slice(open + 1, close), label, true);
        const children = c === "!" ? [label.textContent || "image"] : [...label.childNodes];
        if (c === "!" && inLink) parent.append(...children);
        else parent.append(link(dest.url, children));
        i = dest.end;
        continue;
      }
    }
    if (c === "<" && !inLink) {
      const auto = rest.match(/^<(https?:\/\/[^\s<>]+)>/i);
      if (auto) {
        out();
        parent.append(link(auto[1], [auto[1]]));
        i += auto[0].length;
        continue;
      }
    }
    if ((c === "h" || c === "H") && !inLink && !/[\w/]$/.test(buffer)) {
      const bare = rest.match(/^https?:\/\/[^\s<>"`]+/i);
      if (bare) {
        let url = bare[0];
        while (/[.,;:!?)*_'\]]$/.test(url) && !(url.endsWith(")") && url.split("(").length >= url.split(")").length)) {
          url = url.slice(0, -1);
        }
        out();
        parent.append(link(url, [url]));
        i += url.length;
        continue;
      }
    }
    if (c === "*" || c === "_" || c === "~") {
      const run = rest.match(c === "~" ? /^~+/ : c === "*" ? /^\*+/ : /^_+/)[0];
      const before = i > 0 ? text[i - 1] : " ";
      const after = text[i + run.length] ?? " ";
      const canOpen = !/\s/.test(after) && (c !== "_" || !/[\p{L}\p{N}]/u.test(before));
      const size = c === "~" ? (run.length >= 2 ? 2 : 0) : Math.min(run.length, 2);
      if (canOpen && size) {
        const marker = c.repeat(size);
        const end = findClose(text, i + size, marker, c);
        if (end > 0) {
          out();
          const tag = c === "~" ? "del" : size === 2 ? "strong" : "em";
          const node = document.createElement(tag);
          inline(text.slice(i + size, end), node, inLink);
          parent.append(node);
          i = end + size;
          continue;
        }
      }
      buffer += run;
      i += run.length;
      continue;
    }
    buffer += c;
    i += 1;
  }
  out();
}

/** Where the emphasis opened before `from` closes, or -1. */
function findClose(text, from, marker, c) {
  let i = from;
  while (i < text.length) {
    if (text[i] === "\\") {
      i += 2;
      continue;
    }
    if (text[i] === "`") {
      const run = text.slice(i).match(/^`+/)[0];
      const end = text.indexOf(run, i + run.length);
      i = end > 0 ? end + run.length : i + run.length;
      continue;
    }
    if (text.startsWith(marker, i) && i > from && !/\s/.test(text[i - 1])) {
      const next = text[i + marker.length] ?? " ";
      const longer = text[i + marker.length] === c && marker.length === 1;
      if (!longer && (c !== "_" || !/[\p{L}\p{N}]/u.test(next))) return i;
      if (longer) {
        i += text.slice(i).match(c === "*" ? /^\*+/ : c === "_" ? /^_+/ : /^~+/)[0].length;
        continue;
      }
    }
    i += 1;
  }
  return -1;
}
