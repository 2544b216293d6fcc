// kb's embeddable ask box. Put it on any page whose origin KB_CORS_ORIGINS allows:
//   <script src="https://help.example.com/widget.js" defer></script>
// It talks to the same public API as the help page; there is no secret in it.
// It speaks the language of its lang attribute (<script lang="zh" ...>), else of the host page,
// else of the browser; answers come in the language of the question. With KB_CSAT_WIDGET on,
// each answer ends with "How satisfied are you?" (1 to 5), stored as a rating of its conversation.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__kbWidget) return;
  window.__kbWidget = true;
  var base = new URL(script.src).origin;
  var product = {{ product | tojson }};
  var colour = {{ colour | tojson }};
  var catalogue = {{ messages | tojson }};
  var csat = {{ csat | tojson }};
  var wanted = (script.getAttribute("lang") || document.documentElement.lang || navigator.language || "en");
  var t = catalogue[wanted.toLowerCase().split(/[-_]/)[0]] || catalogue.en;

  var host = document.createElement("div");
  host.setAttribute("data-kb-widget", "");
  var root = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent =
    ":host{all:initial;position:fixed;right:1rem;bottom:1rem;z-index:2147483000;font:15px/1.5 system-ui,sans-serif;color:#1d232b}" +
    "button{font:inherit;cursor:pointer;border:0;border-radius:999px;padding:.6rem 1rem;background:" + colour + ";color:#fff}" +
    ".panel{width:min(24rem,calc(100vw - 2rem));background:#fff;border:1px solid #cfd6de;border-radius:10px;box-shadow:0 6px 24px #0003;padding:1rem;margin-bottom:.5rem}" +
    "label{display:block;font-weight:600;margin-bottom:.4rem}.row{display:flex;gap:.4rem}" +
    "input{flex:1;min-width:0;font:inherit;padding:.5rem;border:1px solid #8995a3;border-radius:6px}" +
    ".out{margin-top:.8rem;white-space:pre-line;max-height:50vh;overflow:auto}ol{padding-left:1.2rem;font-size:.9em}" +
    "a{color:" + colour + "}:focus-visible{outline:3px solid #f0b400;outline-offset:2px}" +
    "fieldset{border:0;padding:0;margin:.6rem 0 0}legend{padding:0;font-weight:600}.scale{display:flex;gap:.3rem}" +
    ".scale button{border-radius:6px;min-width:2.5rem;min-height:2.5rem;padding:0;background:#fff;color:#1d232b;border:1px solid #8995a3}";
  var panel = document.createElement("div");
  panel.className = "panel";
  panel.hidden = true;
  panel.innerHTML =
    '<form><label for="kbq"></label><div class="row"><input id="kbq" type="text" maxlength="1000" autocomplete="off">' +
    '<button type="submit"></button></div></form><div class="out" aria-live="polite"></div>';
  panel.querySelector("button").textContent = t.ask;
  panel.querySelector("label").textContent = t.ask_product.replace("%(product)s", product);
  var toggle = document.createElement("button");
  toggle.type = "button";
  toggle.setAttribute("aria-expanded", "false");
  toggle.textContent = t.help;
  root.append(style, panel, toggle);

  toggle.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) panel.querySelector("input").focus();
  });

  var out = panel.querySelector(".out");

  // Each question asked in the widget is a conversation of its own, with a random id.
  function newConversation() {
    return Array.prototype.map.call(crypto.getRandomValues(new Uint8Array(16)), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function satisfaction(conversation) {
    var set = document.createElement("fieldset");
    set.className = "csat";
    var legend = document.createElement("legend");
    legend.textContent = t.satisfied_q;
    var scale = document.createElement("div");
    scale.className = "scale";
    [1, 2, 3, 4, 5].forEach(function (n) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = String(n);
      button.setAttribute("aria-label", t["scale_" + n]);
      button.title = t["scale_" + n];
      button.addEventListener("click", function () {
        fetch(base + "/v1/ratings", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ conversation_id: conversation, rating: n, channel: "widget" }),
        })
          .then(function (r) { return r.ok; }, function () { return false; })
          .then(function (ok) {
            var thanks = document.createElement("p");
            thanks.setAttribute("role", "status");
            thanks.tabIndex = -1;
            thanks.textContent = ok ? t.rated : t.not_saved;
            set.replaceWith(thanks);
            thanks.focus();
          });
      });
      scale.append(button);
    });
    set.append(legend, scale);
    return set;
  }

  panel.querySelector("form").addEventListener("submit", function (event) {
    event.preventDefault();
    var question = panel.querySelector("input").value.trim();
    if (!question) return;
    out.textContent = "…";
    fetch(base + "/v1/answer", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question: question, conversation_id: newConversation() }),
    })
      .then(function (r) { return r.json(); })
      .then(function (a) {
        out.textContent = "";
        var text = document.createElement("p");
        text.textContent = a.answer || a.error;
        out.append(text);
        var list = document.createElement("ol");
        (a.refused ? a.related : a.citations || []).forEach(function (c) {
          var li = document.createElement("li");
          var link = document.createElement("a");
          link.href = c.url;
          link.target = "_blank";
          link.rel = "noopener";
          link.textContent = c.section && c.section !== c.title ? c.title + " › " + c.section : c.title;
          li.append(link);
          list.append(li);
        });
        if (list.children.length) out.append(list);
        if (a.refused && a.escalation && a.escalation.text) {
          var contact = document.createElement("p");
          contact.className = "contact";
          contact.textContent = a.escalation.text;
          out.append(contact);
        }
        if (csat && a.conversation_id) out.append(satisfaction(a.conversation_id));
      })
      .catch(function () { out.textContent = t.unavailable; });
  });

  document.body.append(host);
})();
