// Generate and watch: the form (the model's sizes, the cost estimate checked by the server
// with the core's rules as you type) and the jobs panel (live stage, partial previews,
// cancel, the stored image). Jobs run on the server: closing the page does not stop them.
"use strict";

(() => {
  const { api, el } = BI;
  const form = {};
  const jobs = {};
  BI.form = form;
  BI.jobs = jobs;
  let models = [];
  const cards = new Map(); // job_id -> {node, job, following}

  const $ = (name) => document.querySelector(`#gen-form [name="${name}"]`);
  const setOptions = (select, values, chosen, blank) => {
    const options = (blank ? [["", blank]] : []).concat(values.map((value) => [value, value]));
    select.replaceChildren(...options.map(([value, label]) => el("option", { value }, label)));
    if (chosen && values.includes(chosen)) select.value = chosen;
  };

  form.init = async () => {
    const result = await api("/api/v1/models");
    models = result.models;
    const defaults = result.defaults;
    setOptions($("model"), models.map((model) => model.name), defaults.model);
    modelChanged(defaults);
    $("model").addEventListener("change", () => modelChanged({}));
    $("size").addEventListener("change", sizeChanged);
    document.getElementById("gen-form").addEventListener("input", scheduleEstimate);
    document.getElementById("gen-form").addEventListener("change", scheduleEstimate);
    document.getElementById("gen-form").addEventListener("submit", submit);
    document.getElementById("edit-cancel").addEventListener("click", stopEdit);
    document.getElementById("gen-form").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); submit(event); }
    });
  };

  function modelChanged(defaults) {
    const model = models.find((item) => item.name === $("model").value) || models[0];
    const sizes = model.free_sizes ? [...model.sizes.filter((size) => size !== "auto"), "auto", "custom"] : model.sizes;
    setOptions($("size"), sizes, defaults.size || $("size").value || model.default_size);
    if (!sizes.includes($("size").value)) $("size").value = model.default_size;
    setOptions($("quality"), model.qualities, defaults.quality || $("quality").value, "default");
    setOptions($("format"), model.formats, defaults.format || $("format").value || "png");
    $("size").title = model.size_help;
    sizeChanged();
  }

  function sizeChanged() {
    const custom = $("size").value === "custom";
    document.querySelector(".custom-size").hidden = !custom;
    if (custom) { document.querySelector("#gen-form details").open = true; $("custom_size").focus(); }
  }

  // Editing: the source's store reference; its size, format and model are the server's defaults.
  let editSource = null;
  const EDIT_DEFAULTED = ["model", "size", "format"];

  form.startEdit = (detail) => {
    editSource = `${detail.post_id}/${detail.section_id}/${detail.name}`;
    document.getElementById("edit-source").textContent = editSource;
    document.getElementById("edit-banner").hidden = false;
    for (const name of EDIT_DEFAULTED) { $(name).disabled = true; $(name).title = "from the image being edited"; }
    document.getElementById("gen-submit").textContent = "Edit";
    form.useSection(detail.post_id, detail.section_id);
    $("prompt").value = "";
    BI.showTab?.("generate");
    $("prompt").focus();
  };

  function stopEdit() {
    editSource = null;
    document.getElementById("edit-banner").hidden = true;
    for (const name of EDIT_DEFAULTED) $(name).disabled = false;
    document.getElementById("gen-submit").textContent = "Generate";
    scheduleEstimate();
  }

  function body() {
    const value = (name) => $(name).value.trim();
    const number = (text) => /^[1-9][0-9]*$/.test(text) ? Number(text) : text;
    const job = { post_id: number(value("post_id")), section_id: number(value("section_id")), prompt: $("prompt").value,
                  partial_images: Number(value("partial_images")) };
    if (editSource) {
      job.edit = editSource;
    } else {
      Object.assign(job, { model: value("model"), format: value("format"),
                           size: value("size") === "custom" ? value("custom_size") : value("size") });
    }
    if (value("quality")) job.quality = value("quality");
    if (value("filename")) job.filename = value("filename");
    if (Number(value("n")) > 1) job.n = Number(value("n"));
    const references = value("images").split(",").map((item) => item.trim()).filter(Boolean);
    if (references.length) job.images = references;
    return job;
  }

  let estimateTimer = null;
  let estimateSeq = 0;
  function scheduleEstimate() {
    clearTimeout(estimateTimer);
    estimateTimer = setTimeout(estimate, 250);
  }

  async function estimate() {
    const seq = ++estimateSeq;
    const cost = document.getElementById("cost");
    const job = body();
    if (!job.prompt.trim() || job.post_id === "" || job.section_id === "") {
      cost.textContent = "Fill in post, section and prompt to see the cost.";
      showError("");
      return;
    }
    try {
      const result = await api("/api/v1/estimate", { method: "POST", body: job });
      if (seq !== estimateSeq) return; // a newer one is on its way
      cost.textContent = `Estimated cost: ${result.cost.text}`;
      cost.title = result.cost.note || "";
      showError(result.warnings.join(" "), "warn");
    } catch (error) {
      if (seq !== estimateSeq) return;
      cost.textContent = "";
      showError(error.text || String(error));
    }
  }

  function showError(text, kind = "error") {
    const box = document.getElementById("gen-error");
    box.textContent = text;
    box.className = kind;
  }

  async function submit(event) {
    event.preventDefault();
    const button = document.getElementById("gen-submit");
    button.disabled = true;
    try {
      const job = await api("/api/v1/jobs", { method: "POST", body: body() });
      showError("");
      jobs.track(job);
      BI.toast(`Job ${job.job_id} ${job.status}`);
    } catch (error) {
      showError(error.text || String(error));
    } finally {
      button.disabled = false;
    }
  }

  form.useSection = (postId, sectionId) => {
    $("post_id").value = postId;
    $("section_id").value = sectionId;
    scheduleEstimate();
  };

  form.reuse = (detail) => {
    const meta = detail.metadata;
    if (editSource) stopEdit();
    form.useSection(detail.post_id, detail.section_id);
    $("prompt").value = meta.prompt || "";
    if (models.some((model) => model.name === meta.model)) { $("model").value = meta.model; modelChanged({}); }
    const sizes = [...$("size").options].map((option) => option.value);
    if (sizes.includes(meta.size)) $("size").value = meta.size;
    else if (sizes.includes("custom")) { $("size").value = "custom"; $("custom_size").value = meta.size; }
    sizeChanged();
    if (meta.quality) $("quality").value = meta.quality;
    if (meta.output_format) $("format").value = meta.output_format;
    BI.showTab?.("generate");
    $("prompt").focus();
    scheduleEstimate();
  };

  // -- the jobs panel -------------------------------------------------------------------
  const FINISHED = new Set(["stored", "skipped", "failed", "cancelled"]);

  // Jobs posted by other clients (a script, another tab) show up too: the list is polled
  // while the page is visible; the jobs it already follows update from their streams.
  jobs.load = async () => {
    const result = await api("/api/v1/jobs");
    for (const job of result.jobs.reverse()) {
      const card = cards.get(job.job_id);
      if (!card || (!card.following && card.job.status !== job.status)) jobs.track(job);
    }
  };

  jobs.poll = (interval_ms = 2000) => {
    setInterval(() => {
      if (document.visibilityState === "visible" && BI.token()) jobs.load().catch(() => {});
    }, interval_ms);
  };

  jobs.track = (job) => {
    let card = cards.get(job.job_id);
    if (!card) {
      card = { node: null, job, following: false };
      cards.set(job.job_id, card);
      card.node = el("li", { class: "job", dataset: { job: job.job_id } });
      document.getElementById("job-list").prepend(card.node);
    }
    card.job = { ...card.job, ...job };
    render(card);
    if (!FINISHED.has(card.job.status) && !card.following) follow(card);
  };

  async function follow(card) {
    card.following = true;
    let last = 0;
    for (let attempt = 0; attempt < 5 && !FINISHED.has(card.job.status); attempt++) {
      try {
        await BI.follow(`/api/v1/jobs/${card.job.job_id}/events`, ({ id, data }) => {
          last = Number(id) || last;
          onEvent(card, data);
        }, { lastEventId: last });
      } catch (error) {
        if (error.status === 401 || error.status === 404) break;
      }
      if (!FINISHED.has(card.job.status)) await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
    }
    card.following = false;
    if (FINISHED.has(card.job.status)) {
      try { card.job = await api(`/api/v1/jobs/${card.job.job_id}`); } catch (_) { /* keep what we have */ }
      render(card);
      finished(card);
    }
  }

  // Running jobs' elapsed time ticks between events, from the last one the server sent.
  setInterval(() => {
    for (const card of cards.values()) {
      if (card.job.status !== "running" || card.since === undefined) continue;
      const node = card.node.querySelector(".elapsed");
      if (node) node.textContent = `${(card.job.elapsed_s + (performance.now() - card.since) / 1000).toFixed(0)} s`;
    }
  }, 1000);

  function onEvent(card, event) {
    card.job.status = event.status;
    card.job.stage = event.stage;
    card.job.elapsed_s = event.elapsed_s;
    card.since = performance.now();
    if (event.kind === "partial" && event.image) card.preview = `data:image/${event.format};base64,${event.image}`;
    render(card);
  }

  function finished(card) {
    const job = card.job;
    const image = job.images?.[0];
    if (job.status === "stored" || job.status === "skipped") {
      BI.toast(job.status === "stored" ? `Stored ${image?.name}` : `Already stored: ${image?.name}`);
      const here = BI.gallery.current();
      if (image && (!here || (String(here.post_id) === String(image.post_id)
                              && String(here.section_id) === String(image.section_id)))) {
        BI.gallery.loadPosts();
        BI.gallery.openSection(image.post_id, image.section_id, { select: image.name });
      }
    } else if (job.status === "failed") {
      BI.toast(`Job failed: ${job.error?.message || "unknown error"}`, "error");
    }
    updateBadge();
  }

  function render(card) {
    const job = card.job;
    const image = job.images?.[0];
    const status = el("span", { class: `status ${job.status}` }, job.status);
    const running = !FINISHED.has(job.status);
    const stage = running && job.stage && job.stage !== job.status ? ` · ${job.stage}` : "";
    const children = [
      el("div", { class: "job-head" }, status,
         el("span", { class: "muted" }, `post ${job.post_id} / ${job.section_id}${stage} · `,
            el("span", { class: "elapsed" }, `${Number(job.elapsed_s || 0).toFixed(1)} s`)),
         running ? el("button", { type: "button", class: "quiet small", onclick: () => cancel(job.job_id),
                                  "aria-label": `Cancel job ${job.job_id}` }, "Cancel") : null),
      el("p", { class: "prompt" }, job.prompt),
      el("p", { class: "muted small" }, [job.model, job.size, job.estimated_cost?.text].filter(Boolean).join(" · ")),
    ];
    if (running && card.preview) children.push(el("img", { class: "preview", src: card.preview, alt: "partial preview" }));
    if (image && !running) {
      children.push(el("div", { class: job.images.length > 1 ? "variant-list" : "" }, ...job.images.map((stored) =>
        el("button", { type: "button", class: "thumb small-thumb", onclick: () => BI.gallery.view(stored),
                       title: stored.name },
          el("img", { src: `${stored.thumb_url}?w=256`, alt: "", width: 256, height: 144 }),
          el("span", { class: "caption" }, stored.name)))));
    }
    if (job.error && job.status === "failed") {
      children.push(el("p", { class: "error" }, job.error.hint ? `${job.error.message} (${job.error.hint})` : job.error.message));
    }
    card.node.replaceChildren(...children);
    card.node.dataset.status = job.status;
    document.getElementById("jobs-empty").hidden = cards.size > 0;
    updateBadge();
  }

  function updateBadge() {
    const active = [...cards.values()].filter((card) => !FINISHED.has(card.job.status)).length;
    const badge = document.getElementById("jobs-badge");
    badge.hidden = active === 0;
    badge.textContent = String(active);
  }

  async function cancel(jobId) {
    try {
      jobs.track(await api(`/api/v1/jobs/${jobId}`, { method: "DELETE" }));
    } catch (error) {
      BI.toast(error.text || String(error), "error");
    }
  }
})();
