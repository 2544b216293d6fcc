// The search page, enhanced: results as you type, answers streamed as they are verified,
// feedback and satisfaction ratings without leaving the page. Without this script the page
// works as plain forms.
"use strict";

(function () {
  const form = document.getElementById("search");
  if (!form) return;
  const input = document.getElementById("q");
  const slot = document.getElementById("answer-slot");
  const results = document.getElementById("results");
  const API = "/v1";
  // The page's messages, in its locale, rendered by the server from the catalogue.
  const MESSAGES = JSON.parse(document.body.dataset.messages || "{}");
  function t(key, values) {
    return (MESSAGES[key] || key).replace(/%\((\w+)\)[sd]/g, (_, name) => String(values[name])).replace("%%", "%");
  }
  // Each question asked on the page is a conversation of its own, rated at its end (CSAT).
  const csat = slot.hasAttribute("data-csat");
  function newConversation() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  let searchTimer = null;
  let searchSeq = 0;
  let askController = null;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  const STOP = new Set("and are can did does for from had has have how its not our that the their them then there these they this was were what when where which who why will with would you your yours".split(" "));

  function words(query) {
    return query.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 2 && !STOP.has(w));
  }

  // Text with the query's words wrapped in <mark>, as DOM nodes (never innerHTML).
  function highlighted(text, query) {
    const wanted = words(query);
    const out = document.createDocumentFragment();
    if (!wanted.length) { out.append(text); return out; }
    const pattern = new RegExp("(?<![\\p{L}\\p{N}])(" + wanted.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|") + ")\\p{L}*", "giu");
    let last = 0;
    for (const m of text.matchAll(pattern)) {
      out.append(text.slice(last, m.index), el("mark", { text: m[0] }));
      last = m.index + m[0].length;
    }
    out.append(text.slice(last));
    return out;
  }

  function helpful(target, query, extra) {
    const id = "helpful-" + target + "-" + (extra.doc_id || "a");
    const f = el("form", { class: "helpful", action: "/helpful", method: "post", "data-target": target });
    f._kb = Object.assign({ target: target, query: query }, extra);
    f.append(
      el("span", { class: "helpful-q", id: id, text: t("helpful") }),
      el("button", { type: "submit", name: "rating", value: "up", "aria-describedby": id }, [t("yes")]),
      el("button", { type: "submit", name: "rating", value: "down", "aria-describedby": id }, [t("no")]),
    );
    if (target === "answer") {
      const cid = "comment-answer";
      f.append(el("details", { class: "comment" }, [
        el("summary", { text: t("add_comment") }),
        el("label", { for: cid, text: t("what_missing") }),
        el("textarea", { id: cid, name: "comment", maxlength: "2000", rows: "2" }),
      ]));
    }
    return f;
  }

  // "How satisfied are you?" as the page renders it: five buttons that post the form.
  function satisfaction(conversation) {
    const f = el("form", { class: "csat", action: "/satisfaction", method: "post" });
    f.append(el("input", { type: "hidden", name: "conversation_id", value: conversation }));
    const scale = el("div", { class: "scale" });
    for (let n = 1; n <= 5; n++) {
      const label = t("scale_" + n);
      scale.append(el("button", { type: "submit", name: "rating", value: String(n), "aria-label": label, title: label, text: String(n) }));
    }
    f.append(el("fieldset", {}, [el("legend", { text: t("satisfied_q") }), scale, el("p", { class: "help", text: t("scale_help") })]));
    return f;
  }

  function renderHits(data, query) {
    const list = el("ol", { id: "hits" });
    for (const h of data.hits) {
      const crumbs = h.section && h.section !== h.title ? h.title + " › " + h.section : h.title;
      const facts = el("p", { class: "facts" }, [el("span", { class: "kind", text: h.kind })]);
      if (h.updated_at) facts.append(" · " + t("updated") + " ", el("time", { datetime: h.updated_at, text: h.updated_at.slice(0, 10) }));
      if (h.duplicates && h.duplicates.length) {
        facts.append(" · " + t("also_at") + " ");
        h.duplicates.forEach((url, i) => facts.append(i ? ", " : "", el("a", { class: "duplicate", href: url, text: String(i + 1) })));
      }
      list.append(el("li", { class: "hit" }, [
        el("a", { class: "title", href: h.url, text: h.title }),
        el("div", { class: "crumbs", text: crumbs }),
        el("p", { class: "snippet" }, [highlighted(h.snippet, query)]),
        facts,
        helpful("result", query, { doc_id: h.doc_id, index_version: data.index_version }),
      ]));
    }
    if (!data.hits.length) list.append(el("li", { text: t("no_match") }));
    const n = data.hits.length;
    results.replaceChildren(el("h2", { id: "results-h", text: t(n === 1 ? "articles_one" : "articles_other", { num: n }) }), list);
    results.hidden = false;
  }

  async function search(query) {
    const seq = ++searchSeq;
    try {
      const response = await fetch(API + "/search?k=10&q=" + encodeURIComponent(query), { headers: { Accept: "application/json" } });
      const data = await response.json();
      if (seq !== searchSeq) return; // a newer query is on its way
      if (!response.ok) { showError(data.error); return; }
      renderHits(data, query);
    } catch (e) { /* offline: the form still works */ }
  }

  function showError(message) {
    slot.replaceChildren(el("p", { class: "error", role: "alert", text: message }));
  }

  // Citation marks as links to their citations' sections. The marks are where the citations'
  // offsets say (code points, hence Array.from); any other "[2]" is the article's own text.
  function cited(text, citations) {
    const chars = Array.from(text);
    const marks = citations.flatMap((c) => (c.offsets || []).map((at) => [at, c])).sort((a, b) => a[0] - b[0]);
    const out = document.createDocumentFragment();
    let last = 0;
    for (const [at, c] of marks) {
      const mark = "[" + c.number + "]";
      if (at < last || chars.slice(at, at + mark.length).join("") !== mark) continue;
      out.append(chars.slice(last, at).join(""));
      out.append(el("sup", {}, [el("a", { href: c.url, "aria-label": t("source", { number: c.number }), text: mark })]));
      last = at + mark.length;
    }
    out.append(chars.slice(last).join(""));
    return out;
  }

  function renderAnswer(a) {
    const section = el("section", { class: "answer" + (a.refused ? " refused" : ""), id: "answer", "aria-labelledby": "answer-h" });
    section.append(el("h2", { id: "answer-h", text: a.refused ? t("not_found") : t("answer") }));
    if (a.refused) {
      section.append(el("p", { class: "answer-text", text: a.answer }));
      if (a.related.length) {
        section.append(el("ul", { class: "related" }, a.related.map((h) => el("li", {}, [el("a", { href: h.url, text: h.title })]))));
      }
      const esc = a.escalation;
      if (esc && esc.text) {
        // The escalation's text is in the question's language; its contact becomes a link.
        const p = el("p", { class: "contact" });
        const at = esc.contact ? esc.text.indexOf(esc.contact) : -1;
        if (at < 0) p.append(esc.text);
        else {
          const href = /^https?:\/\//.test(esc.contact) ? esc.contact : "mailto:" + esc.contact;
          p.append(esc.text.slice(0, at), el("a", { href: href, text: esc.contact }), esc.text.slice(at + esc.contact.length));
        }
        section.append(p);
      }
    } else {
      section.append(el("div", { class: "answer-text" }, [cited(a.answer, a.citations)]));
      section.append(el("ol", { class: "citations" }, a.citations.map((c) => el("li", { id: "cite-" + c.number }, [
        el("a", { href: c.url, text: c.section && c.section !== c.title ? c.title + " › " + c.section : c.title }),
        el("blockquote", { text: c.quote }),
      ]))));
      section.append(el("p", { class: "confidence", text: t("confidence", { percent: Math.round(a.confidence * 100) }) }));
    }
    section.append(helpful("answer", a.question, {
      answer: a.answer, citations: a.citations.map((c) => ({ number: c.number, doc_id: c.doc_id, doc_version: c.doc_version })),
      index_version: a.index_version,
    }));
    if (csat && a.conversation_id) section.append(satisfaction(a.conversation_id));
    slot.replaceChildren(section);
  }

  async function ask(question) {
    if (askController) askController.abort();
    askController = new AbortController();
    const text = el("div", { class: "answer-text" });
    slot.replaceChildren(el("section", { class: "answer pending", id: "answer", "aria-busy": "true" }, [
      el("h2", { id: "answer-h", text: t("answer") }), text,
    ]));
    try {
      const response = await fetch(API + "/answer", {
        method: "POST", signal: askController.signal,
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ question: question, stream: true, conversation_id: newConversation() }),
      });
      if (!response.ok) { showError((await response.json()).error); return; }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block);
          const data = /^data: (.*)$/m.exec(block);
          if (!event || !data) continue;
          const payload = JSON.parse(data[1]);
          if (event[1] === "delta") text.append(payload.text);
          else if (event[1] === "reset") text.replaceChildren();
          else if (event[1] === "done") renderAnswer(payload);
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") showError(t("went_wrong"));
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const query = input.value.trim();
    if (query.length < 2) return;
    searchTimer = setTimeout(() => search(query), 250);
  });

  form.addEventListener("submit", (event) => {
    const query = input.value.trim();
    if (!query) return;
    event.preventDefault();
    clearTimeout(searchTimer);
    history.pushState(null, "", "?q=" + encodeURIComponent(query));
    document.title = query + " – " + document.title.split(" – ").pop();
    ask(query);
    search(query);
  });

  // Feedback: post it as JSON and say thanks, without leaving the page.
  document.addEventListener("submit", async (event) => {
    const f = event.target;
    if (!f.classList || !f.classList.contains("helpful")) return;
    event.preventDefault();
    const fields = new FormData(f);
    const body = Object.assign({}, f._kb || {
      target: fields.get("target"), query: fields.get("query"), doc_id: fields.get("doc_id") || undefined,
      answer: fields.get("answer") || undefined, index_version: fields.get("index_version") || undefined,
      citations: fields.getAll("cited").map((d) => ({ doc_id: d })),
    });
    body.rating = event.submitter ? event.submitter.value : "up";
    const comment = f.querySelector("textarea");
    if (comment && comment.value.trim()) body.comment = comment.value.trim();
    try {
      const response = await fetch(API + "/feedback", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      const thanks = el("p", { class: "thanks", role: "status", tabindex: "-1", text: response.ok ? t("thanks") : t("not_saved") });
      f.replaceWith(thanks);
      thanks.focus();
    } catch (e) { f.submit(); }
  });

  // A rating: post it as JSON and say thanks; it ends the conversation.
  document.addEventListener("submit", async (event) => {
    const f = event.target;
    if (!f.classList || !f.classList.contains("csat")) return;
    event.preventDefault();
    const body = {
      conversation_id: new FormData(f).get("conversation_id"),
      rating: Number(event.submitter ? event.submitter.value : 0),
      channel: "page",
    };
    try {
      const response = await fetch(API + "/ratings", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      const thanks = el("p", { class: "thanks", role: "status", tabindex: "-1", text: response.ok ? t("rated") : t("not_saved") });
      f.replaceWith(thanks);
      thanks.focus();
    } catch (e) { // offline, or the API unreachable: post the form as the page would
      f.append(el("input", { type: "hidden", name: "rating", value: String(body.rating) }));
      f.submit();
    }
  });
})();
