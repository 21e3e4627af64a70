// One image's actions in the viewer: edit it, its variants side by side with keep-and-prune,
// delete, alt text, and publish with copy buttons for the snippets. Every rule (what may be
// deleted, what publishing writes) is the server's: this only asks and shows the answer.
"use strict";

(() => {
  const { api, el } = BI;
  const image = {};
  BI.image = image;
  let detail = null;

  const base = (d) => `/api/v1/posts/${encodeURIComponent(d.post_id)}/sections/${encodeURIComponent(d.section_id)}`;
  const imagePath = (d) => `${base(d)}/images/${encodeURIComponent(d.name)}`;
  const error = (text) => { document.getElementById("image-error").textContent = text || ""; };

  image.show = async (shown) => {
    detail = shown;
    error("");
    document.getElementById("alt-text").value = shown.metadata?.alt || "";
    document.getElementById("alt-text").placeholder = "";
    document.getElementById("viewer-edit").disabled = false;
    showSnippets(null);
    document.getElementById("publish-state").textContent = "Checking…";
    await Promise.all([loadPublished(), showVariants()]);
  };

  async function loadPublished() {
    try {
      const published = await api(`${imagePath(detail)}/publish`);
      showSnippets(published);
    } catch (failure) {
      document.getElementById("publish-state").textContent =
        failure.status === 404 ? "Not published yet." : failure.text || String(failure);
    }
  }

  function showSnippets(published) {
    document.getElementById("snippet-box").hidden = !published;
    if (!published) return;
    const count = published.manifest.derivatives?.length || 0;
    document.getElementById("publish-state").textContent =
      `Published: ${count} file${count === 1 ? "" : "s"} in web/${published.changed ? " (just made)" : ""}.`;
    const alt = document.getElementById("alt-text");
    if (!alt.value && published.alt) alt.placeholder = `${published.alt} (from the prompt: review it)`;
    document.getElementById("snippet-html").value = published.html;
    document.getElementById("snippet-markdown").value = published.markdown;
  }

  // Variants of one group: the section's images named like this one, confirmed by their group_id.
  async function showVariants() {
    const box = document.getElementById("variants");
    const list = document.getElementById("variant-list");
    const group = detail.lineage?.group_id;
    box.hidden = true;
    list.replaceChildren();
    if (!group || !(detail.lineage.variants > 1)) return;
    const stem = detail.filename.replace(/-\d+$/, "");
    const { images } = await api(`${base(detail)}/images`);
    const candidates = images.filter((item) => item.filename.replace(/-\d+$/, "") === stem);
    const members = (await Promise.all(candidates.map((item) => api(`${base(detail)}/images/${encodeURIComponent(item.name)}`)
      .then((found) => ({ item, found })).catch(() => null))))
      .filter((entry) => entry && entry.found.lineage?.group_id === group);
    if (members.length < 2) return;
    list.replaceChildren(...members.map(({ item, found }) => el("div", {
      class: `variant${item.name === detail.name ? " current" : ""}`, dataset: { name: item.name } },
      el("button", { type: "button", class: "thumb", title: item.name, onclick: () => BI.gallery.view(item) },
         el("img", { src: `${item.thumb_url}?w=256`, alt: found.metadata?.prompt || "", width: 256, height: 144 }),
         el("span", { class: "caption" }, `Variant ${found.lineage.variant}`)),
      el("button", { type: "button", class: "quiet small keep", onclick: () => keep(group, item.name, members.length) },
         "Keep this, delete the others"))));
    box.hidden = false;
  }

  async function keep(group, name, count) {
    if (!confirm(`Keep ${name} and delete the other ${count - 1} variant${count > 2 ? "s" : ""} with their metadata?`)) return;
    try {
      const result = await api(`${base(detail)}/prune`, { method: "POST", body: { group_id: group, keep: name } });
      BI.toast(`Kept ${name}; deleted ${result.deleted.length}`);
      await BI.gallery.openSection(detail.post_id, detail.section_id, { select: name });
      const kept = (await api(`${base(detail)}/images`)).images.find((item) => item.name === name);
      if (kept) BI.gallery.view(kept);
    } catch (failure) {
      error(failure.text || String(failure));
    }
  }

  async function remove() {
    if (!confirm(`Delete ${detail.name} and its metadata? This cannot be undone.`)) return;
    try {
      await api(imagePath(detail), { method: "DELETE" });
      BI.toast(`Deleted ${detail.name}`);
      document.getElementById("viewer").close();
      await BI.gallery.openSection(detail.post_id, detail.section_id);
    } catch (failure) {
      error(failure.text || String(failure));
    }
  }

  async function publish() {
    const button = document.getElementById("publish-button");
    button.disabled = true;
    document.getElementById("publish-state").textContent = "Publishing…";
    try {
      showSnippets(await api(`${imagePath(detail)}/publish`, { method: "POST", body: {} }));
    } catch (failure) {
      document.getElementById("publish-state").textContent = "";
      error(failure.text || String(failure));
    } finally {
      button.disabled = false;
    }
  }

  async function saveAlt(event) {
    event.preventDefault();
    try {
      const result = await api(`${imagePath(detail)}/alt`, { method: "PUT",
                                                             body: { text: document.getElementById("alt-text").value } });
      BI.toast(result.metadata_changed || result.manifest_changed ? "Alt text saved" : "Alt text unchanged");
      await loadPublished();
    } catch (failure) {
      error(failure.text || String(failure));
    }
  }

  async function copy(id) {
    const box = document.getElementById(id);
    try {
      await navigator.clipboard.writeText(box.value);
    } catch (_) {
      box.select();
      document.execCommand("copy"); // older browsers, or a page not on a secure context
    }
    BI.toast("Copied");
  }

  image.init = () => {
    document.getElementById("viewer-delete").addEventListener("click", remove);
    document.getElementById("publish-button").addEventListener("click", publish);
    document.getElementById("alt-form").addEventListener("submit", saveAlt);
    document.getElementById("viewer-edit").addEventListener("click", () => {
      if (!detail) return;
      document.getElementById("viewer").close(); // first: closing gives focus back to the opener
      BI.form.startEdit(detail);
    });
    for (const button of document.querySelectorAll("[data-copy]")) {
      button.addEventListener("click", () => copy(button.dataset.copy));
    }
  };
})();
