// The API client of the pages: the same paths as every other client, on the same origin, with
// the session cookie. Requests that change state carry the CSRF token of the `supervisor_csrf`
// cookie as `X-CSRF-Token`; answers in the Supervisor envelope are unwrapped; a 401 means the
// session is gone, which the app shows as the "log in" view. The long-lived answers (a job's
// server-sent events, a log that follows) are read from the body as it arrives.

/** An API failure: the envelope's `message`, or the text the endpoint answered. */
export class ApiError extends Error {
  constructor(message, status, extra = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.errorKey = extra.error_key;
    this.jobId = extra.job_id;
  }
}

let onUnauthorized = () => {};

/** Who to tell when an answer says the session is gone (401). */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/** The session's CSRF token, from the cookie the login set (not HttpOnly for this reason). */
function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "supervisor_csrf") return decodeURIComponent(rest.join("="));
  }
  return "";
}

function headers(method, extra = {}) {
  const all = { ...extra };
  if (method !== "GET" && method !== "HEAD") all["X-CSRF-Token"] = csrfToken();
  return all;
}

/** Makes one request; throws ApiError for a refusal, after telling the app of a 401. */
async function send(method, path, { body, accept = "application/json", signal, headers: extra } = {}) {
  const init = { method, credentials: "same-origin", signal, headers: headers(method, { Accept: accept, ...extra }) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`The supervisor did not answer (${error.message})`, 0);
  }
  if (response.status === 401) {
    onUnauthorized();
    throw new ApiError("Not logged in", 401);
  }
  return response;
}

/** The message of a failed answer: the envelope's, or its text. */
async function failure(response) {
  const text = await response.text();
  try {
    const json = JSON.parse(text);
    if (json && typeof json === "object" && json.message) return new ApiError(json.message, response.status, json);
  } catch {
    // Not JSON: the text is the message (the log endpoints answer errors as text).
  }
  return new ApiError(text.trim() || `${response.status} ${response.statusText}`, response.status);
}

/** A JSON call: resolves to the envelope's `data`. */
async function call(method, path, body, options = {}) {
  const response = await send(method, path, { ...options, body });
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  if (!text) return {};
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(`Not JSON from ${path}`, response.status);
  }
  if (json && json.result === "error") throw new ApiError(json.message || "Error", response.status, json);
  if (json && json.result === "ok") return json.data ?? {};
  return json;
}

export const get = (path, options) => call("GET", path, undefined, options);
export const post = (path, body = {}, options) => call("POST", path, body, options);
export const put = (path, body = {}, options) => call("PUT", path, body, options);
export const del = (path, body, options) => call("DELETE", path, body, options);

/** A text answer (documentation, changelog, a log). */
export async function text(path, { accept = "text/plain", signal } = {}) {
  const response = await send("GET", path, { accept, signal });
  if (!response.ok) throw await failure(response);
  return response.text();
}

/**
 * Reads a long-lived text answer as it arrives: `onText` gets each decoded piece. Resolves when
 * the server ends it; rejects with AbortError when `signal` aborts it.
 */
export async function stream(path, onText, { accept = "text/plain", signal } = {}) {
  const response = await send("GET", path, { accept, signal });
  if (!response.ok) throw await failure(response);
  if (!response.body) {
    onText(await response.text());
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const piece = decoder.decode(value, { stream: true });
      if (piece) onText(piece);
    }
    const rest = decoder.decode();
    if (rest) onText(rest);
  } finally {
    reader.releaseLock();
  }
}

/**
 * Reads a `text/event-stream` answer: `onEvent(name, data)` for each event (comments, the
 * keep-alives, are skipped). Events end at a blank line; `data:` lines are joined with newlines.
 */
export async function events(path, onEvent, options = {}) {
  let buffer = "";
  let name = "message";
  let data = [];
  const line = (text) => {
    if (text === "") {
      if (data.length) onEvent(name, data.join("\n"));
      name = "message";
      data = [];
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const key = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (key === "event") name = value;
    else if (key === "data") data.push(value);
  };
  await stream(
    path,
    (piece) => {
      buffer += piece;
      let end;
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const match = buffer.slice(end).startsWith("\r\n") ? 2 : 1;
        line(buffer.slice(0, end));
        buffer = buffer.slice(end + match);
      }
    },
    { ...options, accept: "text/event-stream" },
  );
  if (data.length) onEvent(name, data.join("\n"));
}

/**
 * Uploads a file as multipart form data (XMLHttpRequest, for its upload progress):
 * `onProgress(fraction)`; resolves to the envelope's data.
 */
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.withCredentials = true;
    request.setRequestHeader("X-CSRF-Token", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("error", () => reject(new ApiError("The upload was cut off", 0)));
    request.addEventListener("load", () => {
      if (request.status === 401) {
        onUnauthorized();
        reject(new ApiError("Not logged in", 401));
        return;
      }
      let json = null;
      try {
        json = JSON.parse(request.responseText);
      } catch {
        // Text answer: its text is the message.
      }
      if (request.status >= 200 && request.status < 300 && (!json || json.result !== "error")) {
        resolve(json?.data ?? {});
      } else {
        const message = json?.message || request.responseText.trim() || `${request.status}`;
        reject(new ApiError(message, request.status, json || {}));
      }
    });
    const form = new FormData();
    form.append("file", file, file.name);
    request.send(form);
  });
}
