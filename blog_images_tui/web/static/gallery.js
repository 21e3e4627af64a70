// Browse: posts and sections (one level at a time, like the TUI), a section's thumbnails,
// and one image with its metadata and lineage. Arrow keys move between thumbnails.
"use strict";

(() => {
  const { api, el } = BI;
  const gallery = {};
  BI.gallery = gallery;
  let current = null; // {post_id, section_id}
  let viewing = null; // the image detail shown in the viewer

  const sectionPath = (post, section) =>
    `/api/v1/posts/${encodeURIComponent(post)}/sections/${encodeURIComponent(section)}`;

  gallery.loadPosts = async () => {
    const list = document.getElementById("posts");
    list.replaceChildren(el("li", { class: "muted" }, "Loading…"));
    try {
      const { posts } = await api("/api/v1/posts");
      list.replaceChildren(...posts.map(({ post_id }) => postItem(post_id)));
      if (!posts.length) list.replaceChildren(el("li", { class: "muted" }, "No posts yet: generate the first image."));
      if (current) await openPost(current.post_id, false);
    } catch (error) {
      list.replaceChildren(el("li", { class: "error" }, error.text || String(error)));
    }
  };

  function postItem(postId) {
    const sections = el("ul", { class: "tree", hidden: true });
    const button = el("button", { type: "button", class: "tree-item", "aria-expanded": "false",
                                  dataset: { post: postId },
                                  onclick: () => togglePost(postId, button, sections) }, `Post ${postId}`);
    return el("li", {}, button, sections);
  }

  async function togglePost(postId, button, sections) {
    const open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", String(!open));
    sections.hidden = open;
    if (!open) await fillSections(postId, sections);
  }

  async function fillSections(postId, sections) {
    sections.replaceChildren(el("li", { class: "muted" }, "Loading…"));
    try {
      const result = await api(`/api/v1/posts/${encodeURIComponent(postId)}/sections`);
      sections.replaceChildren(...result.sections.map(({ section_id }) => el("li", {},
        el("button", { type: "button", class: "tree-item section", dataset: { post: postId, section: section_id },
                       onclick: () => gallery.openSection(postId, section_id) }, `Section ${section_id}`))));
    } catch (error) {
      sections.replaceChildren(el("li", { class: "error" }, error.text || String(error)));
    }
  }

  async function openPost(postId, focus) {
    const button = document.querySelector(`#posts button[data-post="${CSS.escape(String(postId))}"]:not(.section)`);
    if (!button) return;
    const sections = button.nextElementSibling;
    button.setAttribute("aria-expanded", "true");
    sections.hidden = false;
    await fillSections(postId, sections);
    markCurrent();
    if (focus) button.focus();
  }

  function markCurrent() {
    for (const node of document.querySelectorAll("#posts .section")) {
      const on = current && node.dataset.post === String(current.post_id)
        && node.dataset.section === String(current.section_id);
      node.classList.toggle("current", !!on);
      if (on) node.setAttribute("aria-current", "true"); else node.removeAttribute("aria-current");
    }
  }

  gallery.current = () => current;

  gallery.openSection = async (postId, sectionId, { select } = {}) => {
    current = { post_id: postId, section_id: sectionId };
    markCurrent();
    BI.form?.useSection(postId, sectionId);
    document.getElementById("gallery-title").textContent = `Post ${postId} · section ${sectionId}`;
    document.getElementById("upload-label").hidden = false;
    const grid = document.getElementById("gallery");
    grid.setAttribute("aria-busy", "true");
    try {
      const { images } = await api(`${sectionPath(postId, sectionId)}/images`);
      // Newest first: names start with the UTC time.
      images.sort((a, b) => (b.modified || 0) - (a.modified || 0) || b.name.localeCompare(a.name));
      grid.replaceChildren(...images.map(thumbnail));
      if (!images.length) grid.replaceChildren(el("p", { class: "muted" }, "No images in this section yet."));
      if (select) grid.querySelector(`[data-name="${CSS.escape(select)}"]`)?.classList.add("fresh");
    } catch (error) {
      grid.replaceChildren(el("p", { class: "error" }, error.text || String(error)));
    } finally {
      grid.removeAttribute("aria-busy");
    }
    BI.showTab?.("browse", false);
  };

  function thumbnail(image) {
    const img = el("img", { src: `${image.thumb_url}?w=320`, alt: "", loading: "lazy", decoding: "async",
                            width: 320, height: 180 });
    return el("button", { type: "button", class: "thumb", role: "listitem", dataset: { name: image.name },
                          title: image.name, onclick: () => gallery.view(image), onkeydown: moveFocus },
      img, el("span", { class: "caption" }, image.name),
      image.has_metadata ? null : el("span", { class: "tag warn" }, "no metadata"));
  }

  // Arrow keys between thumbnails, by rows of the grid as it is laid out.
  function moveFocus(event) {
    const items = [...document.querySelectorAll("#gallery .thumb")];
    const index = items.indexOf(event.currentTarget);
    if (index < 0) return;
    const perRow = Math.max(1, items.filter((item) => item.offsetTop === items[0].offsetTop).length);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow, ArrowUp: -perRow,
                   Home: -index, End: items.length - 1 - index }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    items[Math.min(items.length - 1, Math.max(0, index + step))].focus();
  }

  gallery.view = async (image) => {
    const dialog = document.getElementById("viewer");
    const base = image.file_url.replace(/\/file$/, "");
    document.getElementById("viewer-title").textContent = image.name;
    const img = document.getElementById("viewer-img");
    img.src = image.file_url;
    img.alt = "";
    document.getElementById("viewer-open").href = image.file_url;
    document.getElementById("viewer-meta").replaceChildren(el("dd", { class: "muted" }, "Loading…"));
    document.getElementById("viewer-lineage").replaceChildren();
    if (!dialog.open) dialog.showModal();
    try {
      viewing = await api(base);
      img.alt = viewing.metadata?.alt || viewing.metadata?.prompt || "";
      showMetadata(viewing);
      await BI.image?.show(viewing);
    } catch (error) {
      document.getElementById("viewer-meta").replaceChildren(el("dd", { class: "error" }, error.text));
    }
  };

  function showMetadata(detail) {
    const meta = detail.metadata || {};
    const rows = [
      ["Prompt", meta.prompt], ["Revised prompt", meta.revised_prompt], ["Model", meta.model],
      ["Size", meta.width && meta.height ? `${meta.width}×${meta.height} (asked ${meta.size})` : meta.size],
      ["Quality", meta.quality], ["Format", meta.output_format || detail.format],
      ["Generated", meta.generated_at ? new Date(meta.generated_at).toLocaleString() : null],
      ["Cost", meta.cost_usd != null ? `$${Number(meta.cost_usd).toFixed(3)}` : (detail.has_metadata ? "unknown" : null)],
      ["Bytes", meta.bytes ? BI.formatBytes(meta.bytes) : null], ["Job", meta.job_id], ["Stored at", meta.image_path],
    ].filter(([, value]) => value !== undefined && value !== null && value !== "");
    const list = document.getElementById("viewer-meta");
    list.replaceChildren(...rows.flatMap(([key, value]) => [el("dt", {}, key), el("dd", {}, String(value))]));
    if (!detail.has_metadata) list.append(el("dd", { class: "warn" }, "This image has no metadata file."));
    document.getElementById("viewer-reuse").disabled = !detail.has_metadata;
    showLineage(detail.lineage || {});
  }

  function showLineage(lineage) {
    const box = document.getElementById("viewer-lineage");
    const parts = [];
    if (lineage.operation) parts.push(el("p", {}, `Made by: ${lineage.operation}`));
    // Lineage names an image by its name without extension: find it in its section's listing.
    const link = (ref, label) => el("button", { type: "button", class: "link lineage-link",
      onclick: async () => {
        const { images } = await api(`${sectionPath(ref.post_id, ref.section_id)}/images`);
        const found = images.find((item) => item.filename === ref.name || item.name === ref.name);
        if (!found) { BI.toast(`${ref.name} is no longer in the store`, "error"); return; }
        await gallery.openSection(ref.post_id, ref.section_id, { select: found.name });
        gallery.view(found);
      } }, `${label}: post ${ref.post_id} / section ${ref.section_id} / ${ref.name}`);
    if (lineage.source?.name) parts.push(link(lineage.source, "Edited from"));
    for (const ref of lineage.references || []) {
      parts.push(ref.post_id !== undefined ? link(ref, "Reference") : el("p", {}, `Reference file: ${ref.name}`));
    }
    if (lineage.variants) parts.push(el("p", {}, `Variant ${lineage.variant} of ${lineage.variants}`));
    box.replaceChildren(...(parts.length ? [el("h3", {}, "Lineage"), ...parts] : []));
  }

  gallery.init = () => {
    document.getElementById("viewer-close").addEventListener("click", () => document.getElementById("viewer").close());
    document.getElementById("viewer").addEventListener("click", (event) => {
      if (event.target.id === "viewer") event.target.close(); // a click on the backdrop
    });
    document.getElementById("viewer-reuse").addEventListener("click", () => {
      if (!viewing?.metadata) return;
      document.getElementById("viewer").close();
      BI.form?.reuse(viewing);
    });
    document.getElementById("refresh").addEventListener("click", gallery.refresh);
    document.getElementById("upload").addEventListener("change", upload);
  };

  // An image from this computer into the open section (checked and stored by the server's import rules).
  async function upload(event) {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file || !current) return;
    const stem = file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^[-_]+/, "").slice(0, 90);
    const query = stem ? `?filename=${encodeURIComponent(stem)}` : "";
    try {
      const response = await BI.request(`${sectionPath(current.post_id, current.section_id)}/images${query}`,
                                        { method: "POST", rawBody: file, contentType: file.type || "application/octet-stream" });
      const stored = await response.json();
      BI.toast(`Imported ${stored.name}`);
      await gallery.openSection(current.post_id, current.section_id, { select: stored.name });
    } catch (error) {
      BI.toast(error.text || String(error), "error");
    }
  }

  gallery.refresh = async () => {
    await gallery.loadPosts();
    if (current) await gallery.openSection(current.post_id, current.section_id);
  };
})();
