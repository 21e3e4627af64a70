// Start-up: the token (fragment, session storage or the login form), the image cookie,
// then the panels. Keys: g the generate form, j the jobs, b the gallery, r refresh, Esc closes.
"use strict";

(() => {
  const { api } = BI;

  BI.showTab = (name, focus = true) => {
    document.body.dataset.tab = name;
    for (const button of document.querySelectorAll(".tabs button")) {
      button.setAttribute("aria-pressed", String(button.dataset.show === name));
    }
    if (!focus) return;
    const target = { browse: "#gallery .thumb, #posts button", generate: '#gen-form [name="prompt"]',
                     jobs: "#job-list button, #jobs-title" }[name];
    const node = document.querySelector(target);
    if (node) { if (!node.matches("button, input, textarea, select")) node.tabIndex = -1; node.focus(); }
  };

  function showLogin(message) {
    document.getElementById("app").hidden = true;
    document.getElementById("logout").hidden = true;
    document.getElementById("login").hidden = false;
    document.getElementById("login-error").textContent = message || "";
    document.getElementById("login-token").focus();
  }

  BI.onUnauthorized = () => {
    BI.setToken(null);
    showLogin("That token was refused: open the link the server printed, or paste its token.");
  };

  async function start() {
    let server;
    try {
      server = await api("/api/v1/server");
    } catch (error) {
      if (error.status !== 401) showLogin(error.text || String(error));
      return;
    }
    await api("/api/v1/session", { method: "POST" }); // the HttpOnly cookie that <img> sends
    document.getElementById("login").hidden = true;
    document.getElementById("app").hidden = false;
    document.getElementById("logout").hidden = false;
    document.getElementById("store-name").textContent = server.store;
    if (!server.has_api_key) {
      document.getElementById("gen-error").textContent =
        "This server has no OpenAI key: browsing works, generating is refused.";
    }
    await Promise.all([BI.form.init(), BI.gallery.loadPosts(), BI.jobs.load()]);
    if (!BI._polling) { BI._polling = true; BI.jobs.poll(); }
  }

  function onKey(event) {
    if (event.key === "Escape" && document.getElementById("viewer").open) return; // the dialog's own
    const typing = event.target.closest("input, textarea, select, [contenteditable]");
    if (typing || event.ctrlKey || event.metaKey || event.altKey || document.getElementById("viewer").open) return;
    const action = { g: () => BI.showTab("generate"), j: () => BI.showTab("jobs"), b: () => BI.showTab("browse"),
                     r: () => BI.gallery.refresh() }[event.key];
    if (action && !document.getElementById("app").hidden) { event.preventDefault(); action(); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    BI.takeTokenFromFragment();
    BI.gallery.init();
    BI.image.init();
    document.addEventListener("keydown", onKey);
    for (const button of document.querySelectorAll(".tabs button")) {
      button.addEventListener("click", () => BI.showTab(button.dataset.show));
    }
    document.getElementById("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      BI.setToken(document.getElementById("login-token").value.trim());
      document.getElementById("login-token").value = "";
      start();
    });
    document.getElementById("logout").addEventListener("click", async () => {
      try { await api("/api/v1/session", { method: "DELETE" }); } catch (_) { /* gone anyway */ }
      BI.setToken(null);
      showLogin("Token forgotten.");
    });
    // A link with a token opened in a tab that already shows the page: use the new token.
    window.addEventListener("hashchange", () => { if (BI.takeTokenFromFragment()) start(); });
    BI.showTab("browse", false);
    if (BI.token()) start(); else showLogin();
  });
})();
