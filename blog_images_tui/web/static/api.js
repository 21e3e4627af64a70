// The page's one way to the server: fetch with the token in the Authorization header.
// The token lives in sessionStorage (read once from the URL's #token= fragment, which is
// never sent to the server); images load through an HttpOnly session cookie obtained
// with it; event streams are read from a streamed fetch, since EventSource cannot send
// the header. Everything shown from the server goes through textContent, never innerHTML.
"use strict";

const BI = (window.BI = {});
const TOKEN_KEY = "blog-images-token";

BI.token = () => sessionStorage.getItem(TOKEN_KEY);
BI.setToken = (token) => token ? sessionStorage.setItem(TOKEN_KEY, token) : sessionStorage.removeItem(TOKEN_KEY);

// The token from the fragment, taken out of the address bar and history at once.
BI.takeTokenFromFragment = () => {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) return false;
  BI.setToken(decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search);
  return true;
};

class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
  // The core's words: message, then the hint in brackets.
  get text() {
    return this.error.hint ? `${this.error.message} (${this.error.hint})` : this.error.message;
  }
}
BI.ApiError = ApiError;

async function request(path, { method = "GET", body, rawBody, contentType, signal, headers = {} } = {}) {
  const init = { method, signal, headers: { ...headers, Authorization: `Bearer ${BI.token()}` },
                 credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (rawBody !== undefined) {
    init.headers["Content-Type"] = contentType;
    init.body = rawBody;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { message: "the server did not answer", hint: "is blog-images serve still running?" });
  }
  if (response.status === 401) BI.onUnauthorized?.();
  if (!response.ok) {
    let error = { message: `HTTP ${response.status}` };
    try { error = (await response.json()).error || error; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, error);
  }
  return response;
}
BI.request = request;

BI.api = async (path, options) => {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
};

// Read a text/event-stream body: calls onEvent({id, event, data}) for each event, in order.
BI.follow = async (path, onEvent, { signal, lastEventId } = {}) => {
  const headers = lastEventId ? { "Last-Event-ID": String(lastEventId) } : {};
  const response = await request(path, { signal, headers });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { id: null, event: "message", data: "" };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") event.data += (event.data ? "\n" : "") + text;
        else if (field === "id") event.id = text;
        else if (field === "event") event.event = text;
      }
      if (event.data) onEvent({ ...event, data: JSON.parse(event.data) });
    }
  }
};

// A small element builder: el("li", {class: "x", onclick}, "text", child...)
BI.el = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

BI.toast = (text, kind = "info") => {
  const toast = document.getElementById("toast");
  toast.textContent = text;
  toast.dataset.kind = kind;
  toast.classList.add("shown");
  clearTimeout(BI._toastTimer);
  BI._toastTimer = setTimeout(() => toast.classList.remove("shown"), kind === "error" ? 8000 : 4000);
};

BI.formatBytes = (bytes) => bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MB`
  : bytes >= 1024 ? `${Math.round(bytes / 1024)} kB` : `${bytes} B`;
