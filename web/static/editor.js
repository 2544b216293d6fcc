// The editors' page: everything comes from the admin API with the key kept in this tab.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const status = $("editor-status");
  let key = sessionStorage.getItem("kb-admin-key") || "";
  // The page's messages, in its locale, rendered by the server from the catalogue.
  const MESSAGES = JSON.parse(document.body.dataset.messages || "{}");
  const t = (name, values) => (MESSAGES[name] || name).replace(/%\((\w+)\)s/g, (_, v) => String(values[v]));

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children || []) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  async function api(path, options) {
    const response = await fetch(path, Object.assign({}, options, {
      headers: Object.assign({ Authorization: "Bearer " + key, Accept: "application/json" },
        (options || {}).body ? { "Content-Type": "application/json" } : {}),
    }));
    if (response.status === 401) { $("editor").hidden = true; throw new Error(t("bad_key")); }
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || t("failed"));
    return data;
  }

  function candidate(c) {
    const li = el("li", { class: "candidate " + c.status, "data-id": String(c.id) });
    const qid = "q-" + c.id, aid = "a-" + c.id;
    const where = c.article && c.coverage >= 0.5
      ? el("span", {}, [t("covered_by") + " ", el("a", { href: c.article.url, text: c.article.title })])
      : el("strong", { text: t("not_covered") });
    li.append(el("p", { class: "meta" }, [
      t("tickets", { count: c.size }) + " · " + (c.queue || "?") + " · " + (c.lang || "?") + " · " + t("coverage", { value: c.coverage.toFixed(2) }) + " · ", where,
      " · ", el("span", { class: "status", text: c.status }),
    ]));
    if (c.status === "pending") {
      li.append(
        el("label", { for: qid, text: t("question") }), el("textarea", { id: qid, rows: "2" }),
        el("label", { for: aid, text: t("answer") }), el("textarea", { id: aid, rows: "4" }),
      );
      li.querySelector("#" + qid).value = c.question;
      li.querySelector("#" + aid).value = c.answer;
      const accept = el("button", { type: "button", class: "accept", text: t("accept") });
      const reject = el("button", { type: "button", class: "reject", text: t("reject") });
      accept.addEventListener("click", () => decide(c.id, "accept", li));
      reject.addEventListener("click", () => decide(c.id, "reject", li));
      li.append(el("div", { class: "row" }, [accept, reject]));
    } else {
      li.append(el("p", { class: "q", text: c.question }), el("p", { class: "a", text: c.answer }));
      if (c.doc_id) li.append(el("p", { class: "help", text: t("published_as", { doc_id: c.doc_id }) }));
    }
    return li;
  }

  async function decide(id, action, li) {
    const body = action === "accept"
      ? { question: li.querySelector("#q-" + id).value, answer: li.querySelector("#a-" + id).value } : {};
    try {
      const data = await api("/admin/faq/" + id + "/" + action, { method: "POST", body: JSON.stringify(body) });
      li.replaceWith(candidate(data.candidate));
      status.textContent = action === "accept" ? t("accepted") : t("rejected");
    } catch (e) { status.textContent = e.message; }
  }

  function chart(weeks, series) {
    const W = 640, H = 160, pad = 24, names = Object.keys(series).slice(0, 6);
    const max = Math.max(1, ...names.flatMap((n) => series[n]));
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H + 20}`);
    svg.setAttribute("role", "img");
    const colours = ["#0b5cad", "#b3261e", "#1d6b34", "#8a4b00", "#6a1b9a", "#00695c"];
    const x = (i) => pad + (i * (W - 2 * pad)) / Math.max(1, weeks.length - 1);
    const y = (v) => H - (v * (H - pad)) / max;
    names.forEach((name, k) => {
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", series[name].map((v, i) => x(i) + "," + y(v)).join(" "));
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", colours[k]);
      line.setAttribute("stroke-width", "2");
      svg.append(line);
    });
    const label = weeks.length ? t("weeks", { first: weeks[0], last: weeks[weeks.length - 1] }) : t("no_data");
    svg.setAttribute("aria-label", t("chart", { weeks: label }));
    const legend = el("ul", { class: "legend" }, names.map((n, k) =>
      el("li", {}, [el("span", { class: "swatch swatch-" + k }), n + " (" + series[n].reduce((a, b) => a + b, 0) + ")"])));
    return [svg, legend];
  }

  function table(caption, head, rows) {
    return el("table", { class: "csat-table" }, [
      el("caption", { text: caption }),
      el("thead", {}, [el("tr", {}, head.map((h) => el("th", { scope: "col", text: h })))]),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", { text: c }))))),
    ]);
  }

  // CSAT by week and by topic: tables, which read out better than a chart of means.
  function satisfaction(csat, pct) {
    if (!csat.overall.ratings) return [el("p", { class: "help", text: t("no_ratings") })];
    const mean = (v) => (v === null ? "–" : v.toFixed(2));
    const figures = (c) => [String(c.ratings), mean(c.mean), pct(c.satisfied)];
    const head = [t("ratings"), t("mean"), t("satisfied")];
    return [
      table(t("by_week"), [t("week"), ...head], csat.by_week.map((w) => [w.week, ...figures(w)])),
      table(t("by_topic"), [t("topic"), ...head], csat.by_topic.map((c) => [c.topic, ...figures(c)])),
    ];
  }

  // Regression questions: each with its pages (links to kb's copies), an inline edit, Retire.
  // kb's page for a document, as kb.links.article_path makes it.
  const articlePath = (id) => id.split("/").every((s) => s && s !== "." && s !== "..")
    ? "/articles/" + id.split("/").map(encodeURIComponent).join("/") : "/articles/?id=" + encodeURIComponent(id);
  const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

  function regression(q) {
    const li = el("li", { class: "regression", "data-id": String(q.id) });
    const links = q.pages.map((p, i) => [i ? ", " : "", el("a", { href: articlePath(p), text: p })]).flat();
    li.append(
      el("p", { class: "q", text: q.question }),
      el("p", { class: "meta" }, [t("origin_" + q.origin) + " · ", ...links]),
    );
    const qid = "rq-" + q.id, pid = "rp-" + q.id;
    const question = el("textarea", { id: qid, rows: "2" }), pages = el("textarea", { id: pid, rows: "2" });
    question.value = q.question;
    pages.value = q.pages.join("\n");
    const save = el("button", { type: "button", class: "save", text: t("save") });
    save.addEventListener("click", () => change(q.id, { question: question.value, pages: lines(pages.value) }, li, "regression_saved"));
    const retire = el("button", { type: "button", class: "retire", text: t("retire") });
    retire.addEventListener("click", () => change(q.id, { status: "retired" }, li, "regression_retired"));
    li.append(
      el("details", {}, [el("summary", { text: t("edit") }),
        el("label", { for: qid, text: t("question") }), question,
        el("label", { for: pid, text: t("pages") }), pages, save]),
      el("div", { class: "row" }, [retire]),
    );
    return li;
  }

  async function change(id, body, li, done) {
    try {
      const { regression: q } = await api("/admin/regressions/" + id, { method: "PATCH", body: JSON.stringify(body) });
      if (q.status === "active") li.replaceWith(regression(q)); else li.remove();
      if (!$("regressions").children.length) $("regressions").append(el("li", { text: t("no_regressions") }));
      status.textContent = t(done, { id: q.id });
    } catch (e) { status.textContent = e.message; }
  }

  // The public search, without the admin key (which is not a backend key): the top results
  // to tick as the question's pages.
  async function findPages() {
    const q = $("regression-question").value.trim();
    if (!q) return;
    $("regression-hits").replaceChildren(el("li", { text: t("searching") }));
    $("regression-results").hidden = false;
    try {
      const response = await fetch("/v1/search?k=5&q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } });
      const data = await response.json();
      if (!response.ok) throw new Error(data.error || t("failed"));
      $("regression-hits").replaceChildren(...data.hits.map((h, i) => {
        const id = "pick-" + i;
        return el("li", {}, [el("input", { type: "checkbox", id: id, value: h.doc_id }), " ",
          el("label", { for: id, text: h.title + (h.section && h.section !== h.title ? " – " + h.section : "") + " (" + h.doc_id + ")" })]);
      }));
      if (!data.hits.length) $("regression-hits").replaceChildren(el("li", { text: t("no_hits") }));
    } catch (e) { $("regression-hits").replaceChildren(el("li", { text: e.message })); }
  }

  function held(gates) {
    const latest = gates.gates[0];
    const show = latest && latest.status === "held" && latest.version !== gates.served;
    $("held").hidden = !show;
    if (!show) return;
    $("held-h").textContent = t("held", { version: latest.version, reason: latest.verdict.reason });
    $("held-broken").replaceChildren(...latest.verdict.broken.map((b) => el("li", {}, [
      el("q", { text: b.question }), ": " + b.why])));
    $("promote").dataset.version = latest.version;
  }

  function suggestButton(question) {
    const button = el("button", { type: "button", class: "suggest", text: t("add_regression") });
    button.addEventListener("click", () => suggest(question));
    return button;
  }

  function suggest(question) {
    $("regression-question").value = question;
    $("regression-question").focus();
    $("regression-question").scrollIntoView({ block: "center" });
    findPages();
  }

  function nudge(n) {
    const li = el("li", { class: "nudge" });
    const undo = el("button", { type: "button", text: t("undo") });
    undo.addEventListener("click", async () => {
      try {
        await api("/admin/nudges/undo", { method: "POST", body: JSON.stringify({ doc_id: n.doc_id, query: n.queries[0] }) });
        li.remove();
        status.textContent = t("nudge_undone", { doc: n.doc_id });
        if (!$("nudges").children.length) $("nudges").append(el("li", { text: t("no_nudges") }));
      } catch (e) { status.textContent = e.message; }
    });
    li.append(
      el("a", { href: "/articles/" + encodeURIComponent(n.doc_id).replace(/%2F/g, "/"), text: n.doc_id }), " ",
      el("span", { class: "meta", text: t("nudge", { direction: n.boost > 0 ? "↑" : "↓", percent: Math.round(Math.abs(n.boost) * 100) + "%", clients: n.clients, query: n.queries[0] }) }), " ",
      undo);
    return li;
  }

  async function load() {
    status.textContent = t("loading");
    try {
      const [faq, gaps, trends, feedback, kpis, regressions, gates, nudges] = await Promise.all([
        api("/admin/faq"), api("/admin/gaps"), api("/admin/trends"), api("/admin/feedback?limit=50"),
        api("/admin/kpis?days=30"), api("/admin/regressions"), api("/admin/index/gates"),
        api("/admin/nudges").catch(() => ({ bound: 0, nudges: [] })),  // no index yet: none
      ]);
      $("nudges").replaceChildren(...nudges.nudges.map(nudge));
      if (!nudges.nudges.length) $("nudges").append(el("li", { text: t("no_nudges") }));
      $("editor").hidden = false;
      held(gates);
      $("regressions").replaceChildren(...regressions.questions.map(regression));
      if (!regressions.questions.length) $("regressions").append(el("li", { text: t("no_regressions") }));
      const pct = (v) => (v === null ? "–" : Math.round(v * 100) + "%");
      $("kpis").replaceChildren(...[
        [t("questions"), String(kpis.questions)], [t("answered"), String(kpis.answered)],
        [t("refused"), String(kpis.refused)], [t("helpful"), pct(kpis.helpfulness)],
        [t("deflection"), pct(kpis.deflection)],
        [t("csat"), kpis.csat.mean === null ? "–" : kpis.csat.mean.toFixed(2)],
        [t("satisfied"), pct(kpis.csat.satisfied)], [t("ratings"), String(kpis.csat.ratings)],
      ].map(([k, v]) => el("div", {}, [el("dt", { text: k }), el("dd", { text: v })])));
      $("kpi-chart").replaceChildren(...chart(kpis.per_day.map((d) => d.day), {
        answered: kpis.per_day.map((d) => d.answered), refused: kpis.per_day.map((d) => d.refused),
      }));
      $("unanswered").replaceChildren(...kpis.top_unanswered.map((u) => el("li", { text: u.query + " (" + u.count + ")" })));
      $("candidates").replaceChildren(...faq.candidates.map(candidate));
      if (!faq.candidates.length) $("candidates").append(el("li", { text: t("no_candidates") }));
      $("gaps").replaceChildren(...gaps.gaps.map((g) => el("li", { class: "gap" }, [
        el("p", { class: "q", text: g.question }),
        el("p", { class: "meta", text: t("gap_meta", { count: g.count, reasons: Object.entries(g.reasons).map(([k, v]) => k.replace("_", " ") + " " + v).join(", "), date: g.last_seen.slice(0, 10) }) }),
        g.closest ? el("p", { class: "meta" }, [t("closest") + " ", el("a", { href: g.closest.url, text: g.closest.title })]) : null,
      ])));
      if (!gaps.gaps.length) $("gaps").append(el("li", { text: t("no_gaps") }));
      const blocks = [];
      for (const [dimension, series] of Object.entries(trends.series)) {
        blocks.push(el("h3", { text: dimension }), ...chart(trends.weeks, series));
      }
      for (const r of trends.rising) {
        blocks.push(el("p", { class: "rising", text: t("rising", { dimension: r.dimension, value: r.value, recent: r.recent_per_week.toFixed(1), before: r.before_per_week.toFixed(1) }) }));
      }
      $("trends").replaceChildren(...blocks);
      $("csat-trends").replaceChildren(...satisfaction(trends.csat, pct));
      $("feedback").replaceChildren(...feedback.feedback.map((f) => el("li", { class: f.rating > 0 ? "up" : "down" }, [
        el("strong", { text: f.rating > 0 ? t("helpful") : t("not_helpful") }), " · " + f.target + " · " + f.created_at.slice(0, 10) + " · ",
        el("q", { text: f.query }), f.comment ? el("p", { text: f.comment }) : null,
        f.query ? suggestButton(f.query) : null,
      ])));
      status.textContent = "";
    } catch (e) { status.textContent = e.message; }
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    key = $("admin-key").value;
    sessionStorage.setItem("kb-admin-key", key);
    load();
  });
  $("mine").addEventListener("click", async () => {
    status.textContent = t("mining");
    try { await api("/admin/faq/mine", { method: "POST" }); await load(); } catch (e) { status.textContent = e.message; }
  });
  $("trends-csv").addEventListener("click", async (event) => {
    event.preventDefault();
    const response = await fetch("/admin/trends?format=csv", { headers: { Authorization: "Bearer " + key } });
    const url = URL.createObjectURL(await response.blob());
    const a = el("a", { href: url, download: "trends.csv" });
    document.body.append(a); a.click(); a.remove();
  });
  async function follow(id) {
    for (;;) {
      const { job } = await api("/admin/jobs/" + id);
      const summary = job.report ? job.report.summary : job.error || t("documents_read", { count: job.progress || 0 });
      $("job").textContent = t("job", { id: job.id, status: job.status, summary: summary });
      if (job.status === "done" || job.status === "failed") { if (job.status === "done") load(); return; }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  $("ingest-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const sources = $("sources").value.split("\n").map((s) => s.trim()).filter(Boolean);
    try {
      const { job } = await api("/admin/ingest", { method: "POST", body: JSON.stringify({ sources }) });
      follow(job.id);
    } catch (e) { $("job").textContent = e.message; }
  });
  $("regression-search").addEventListener("click", findPages);
  $("regression-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const picked = [...$("regression-hits").querySelectorAll("input:checked")].map((c) => c.value);
    const pages = [...picked, ...lines($("regression-pages").value)];
    if (!pages.length) { status.textContent = t("no_pages"); return; }
    try {
      const { regression: q } = await api("/admin/regressions", { method: "POST",
        body: JSON.stringify({ question: $("regression-question").value, pages }) });
      const list = $("regressions"), old = list.querySelector(`[data-id="${q.id}"]`);
      if (old) old.replaceWith(regression(q)); else {
        if (!list.querySelector(".regression")) list.replaceChildren();
        list.append(regression(q));
      }
      $("regression-form").reset();
      $("regression-results").hidden = true;
      status.textContent = t("regression_added", { id: q.id });
    } catch (e) { status.textContent = e.message; }
  });
  $("promote").addEventListener("click", async () => {
    const version = $("promote").dataset.version;
    try {
      await api("/admin/index/promote", { method: "POST", body: JSON.stringify({ version }) });
      await load();
      status.textContent = t("promoted", { version });
    } catch (e) { status.textContent = e.message; }
  });
  if (key) load();
})();
