// The coding page: select text (mouse or keyboard), pick codes, see highlights and margin stripes, edit codings.
// All data arrives through json_script; all text goes into the page as text nodes, never as HTML.
// Offsets are Unicode code points throughout; WorkbenchOffsets converts the browser's UTF-16 positions.
(function () {
  "use strict";
  var dataEl = document.getElementById("coding-data");
  var article = document.getElementById("transcript-text");
  if (!dataEl || !article) { return; }
  var data = JSON.parse(dataEl.textContent);
  var Off = window.WorkbenchOffsets;
  var chars = Array.from(data.text);               // one entry per code point
  var codes = {};                                   // id -> code
  data.codes.forEach(function (c) { codes[c.id] = c; });
  var codings = {};                                 // id -> coding
  data.codings.forEach(function (c) { codings[c.id] = c; });
  var hiddenCodes = {};                             // code id -> true when filtered out
  var pending = null;                               // {start, end} selection waiting for a code
  var currentPara = null;
  var tempId = 0;
  var csrf = (document.querySelector("#csrf-holder input[name=csrfmiddlewaretoken]") || {}).value || "";
  var paragraphs = Array.prototype.slice.call(article.querySelectorAll("p[data-s]"));
  var picker = document.getElementById("picker");
  var pickerFilter = document.getElementById("picker-filter");
  var pickerList = document.getElementById("picker-list");
  var popover = document.getElementById("popover");
  var toast = document.getElementById("toast");
  var stripes = document.getElementById("stripes");
  var pickerIndex = 0;
  var pickerItems = [];

  // ---------------------------------------------------------------- helpers
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "className") { node.className = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function slice(a, b) { return chars.slice(a, b).join(""); }
  function showToast(message, kind) {
    toast.textContent = message;
    toast.className = "toast " + (kind || "error");
    toast.hidden = false;
    clearTimeout(showToast.timer);
    showToast.timer = setTimeout(function () { toast.hidden = true; }, 6000);
  }
  function api(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      if (response.status === 204) { return { ok: true, status: 204, body: null }; }
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { ok: response.ok, status: response.status, body: json };
      });
    }, function () {
      return { ok: false, status: 0, body: { error: "The server could not be reached; nothing was saved." } };
    });
  }
  function codingUrl(id) { return data.api.coding.replace(/0\/$/, id + "/"); }
  function isWordChar(ch) { return /[\p{L}\p{N}_]/u.test(ch) && !/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u.test(ch); }
  function visible(c) { return !hiddenCodes[c.code]; }
  function mine(c) { return c.layer === "coder" && c.coder === data.user; }
  function editable(c) { return mine(c) || (c.layer === "consensus" && data.isPi); }

  // ---------------------------------------------------------------- rendering
  function paragraphOf(offset) {
    for (var i = 0; i < paragraphs.length; i++) {
      var p = paragraphs[i];
      if (offset >= +p.dataset.s && offset <= +p.dataset.e) { return p; }
    }
    return null;
  }
  function runsFor(a, b, list) {
    var points = [a, b];
    list.forEach(function (c) {
      if (c.start > a && c.start < b) { points.push(c.start); }
      if (c.end > a && c.end < b) { points.push(c.end); }
    });
    points = points.filter(function (v, i, arr) { return arr.indexOf(v) === i; }).sort(function (x, y) { return x - y; });
    var runs = [];
    for (var i = 0; i + 1 < points.length; i++) {
      var x = points[i], y = points[i + 1];
      var covering = list.filter(function (c) { return c.start <= x && c.end >= y; });
      covering.sort(function (p, q) { return (p.end - p.start) - (q.end - q.start) || (p.id > q.id ? 1 : -1); });
      runs.push({ start: x, end: y, codings: covering });
    }
    return runs;
  }
  function runNode(run) {
    var text = slice(run.start, run.end);
    var real = run.codings.filter(function (c) { return c.id !== "pending"; });
    var isPending = run.codings.length !== real.length;
    if (!real.length && !isPending) { return el("span", { "data-o": run.start }, text); }
    var node = el("mark", { "data-o": run.start }, text);
    node.className = "hl" + (real.length > 1 ? " overlap" : "") + (isPending ? " pending" : "");
    if (real.length) {
      node.style.setProperty("--hl", codes[real[0].code] ? codes[real[0].code].color : "#888888");
      if (real.length > 1) { node.style.setProperty("--hl2", codes[real[1].code] ? codes[real[1].code].color : "#888888"); }
      node.setAttribute("data-codings", real.map(function (c) { return c.id; }).join(" "));
    } else {
      node.style.setProperty("--hl", "#94a3b8");
      node.removeAttribute("data-codings");
    }
    return node;
  }
  function renderParagraph(p) {
    var s = +p.dataset.s, b = +p.dataset.b, e = +p.dataset.e;
    var list = Object.keys(codings).map(function (k) { return codings[k]; }).filter(function (c) {
      return visible(c) && c.start < e && c.end > s;
    });
    if (pending && pending.start < e && pending.end > s) { list.push({ id: "pending", start: pending.start, end: pending.end }); }
    var frag = document.createDocumentFragment();
    if (b > s) {
      var speaker = el("span", { className: "speaker" });
      runsFor(s, b, list).forEach(function (r) { speaker.appendChild(runNode(r)); });
      frag.appendChild(speaker);
    }
    var body = el("span", { className: "body" });
    runsFor(b, e, list).forEach(function (r) { body.appendChild(runNode(r)); });
    frag.appendChild(body);
    p.textContent = "";
    p.appendChild(frag);
  }
  function renderRange(a, b) {
    paragraphs.forEach(function (p) {
      if (+p.dataset.s <= b && +p.dataset.e >= a) { renderParagraph(p); }
    });
    scheduleStripes();
    document.getElementById("coding-count").textContent = Object.keys(codings).length;
  }
  function renderAll() { paragraphs.forEach(renderParagraph); scheduleStripes(); }

  // Margin stripes: one lane per overlapping coding, labelled with the code's name.
  var stripeTimer = null;
  function scheduleStripes() { clearTimeout(stripeTimer); stripeTimer = setTimeout(drawStripes, 30); }
  function drawStripes() {
    if (!stripes) { return; }
    var base = article.getBoundingClientRect();
    var firstLast = {};
    article.querySelectorAll("mark[data-codings]").forEach(function (m) {
      m.getAttribute("data-codings").split(" ").forEach(function (id) {
        var entry = firstLast[id];
        if (!entry) { firstLast[id] = { first: m, last: m }; } else { entry.last = m; }
      });
    });
    var items = Object.keys(firstLast).map(function (id) {
      var top = firstLast[id].first.getBoundingClientRect().top - base.top;
      var bottom = firstLast[id].last.getBoundingClientRect().bottom - base.top;
      return { id: id, top: top, bottom: Math.max(bottom, top + 12) };
    }).sort(function (x, y) { return x.top - y.top || (y.bottom - y.top) - (x.bottom - x.top); });
    var lanes = [];
    var frag = document.createDocumentFragment();
    items.forEach(function (item) {
      var lane = 0;
      while (lane < lanes.length && lanes[lane] > item.top - 2) { lane++; }
      lanes[lane] = item.bottom;
      var coding = codings[item.id] || codings[+item.id];
      if (!coding) { return; }
      var code = codes[coding.code] || { name: "?", color: "#888888" };
      var stripe = el("div", { className: "stripe", "data-coding": coding.id, title: code.name + " · " + coding.coder });
      stripe.style.top = item.top + "px";
      stripe.style.height = (item.bottom - item.top) + "px";
      stripe.style.left = (lane * 14) + "px";
      stripe.style.background = code.color;
      var label = el("span", { className: "stripe-label" }, code.name);
      stripe.appendChild(label);
      frag.appendChild(stripe);
    });
    stripes.textContent = "";
    stripes.style.width = Math.max(1, lanes.length) * 14 + "px";
    stripes.appendChild(frag);
  }

  // ---------------------------------------------------------------- selections
  function offsetOf(node, utf16Offset) {
    var holder = node.nodeType === 3 ? node.parentElement : node;
    if (node.nodeType !== 3) {
      // An element boundary: resolve to the text node before or at it.
      var child = node.childNodes[utf16Offset];
      if (child && child.nodeType === 1 && child.hasAttribute("data-o")) { return +child.getAttribute("data-o"); }
      if (node.hasAttribute && node.hasAttribute("data-o")) {
        return +node.getAttribute("data-o") + (utf16Offset > 0 ? Off.codePointLength(node.textContent) : 0);
      }
      var p = node.closest ? node.closest("p[data-s]") : null;
      if (p) { return utf16Offset > 0 ? +p.dataset.e : +p.dataset.s; }
      return null;
    }
    while (holder && !holder.hasAttribute("data-o")) { holder = holder.parentElement; }
    if (!holder || !article.contains(holder)) { return null; }
    return +holder.getAttribute("data-o") + Off.utf16ToCodePoints(node.textContent, utf16Offset);
  }
  function selectionRange() {
    var sel = window.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) { return null; }
    var range = sel.getRangeAt(0);
    if (!article.contains(range.commonAncestorContainer)) { return null; }
    var a = offsetOf(range.startContainer, range.startOffset);
    var b = offsetOf(range.endContainer, range.endOffset);
    if (a === null || b === null) { return null; }
    return trim(Math.min(a, b), Math.max(a, b));
  }
  function trim(a, b) {
    while (a < b && /\s/.test(chars[a])) { a++; }
    while (b > a && /\s/.test(chars[b - 1])) { b--; }
    if (data.snap) {
      while (a > 0 && isWordChar(chars[a - 1]) && isWordChar(chars[a])) { a--; }
      while (b < chars.length && isWordChar(chars[b]) && isWordChar(chars[b - 1])) { b++; }
    }
    return b > a ? { start: a, end: b } : null;
  }
  function nextWordEnd(pos) {
    var i = pos;
    while (i < chars.length && !isWordChar(chars[i]) && chars[i] !== "\n") {
      if (!/\s/.test(chars[i])) { return i + 1; }   // punctuation or a CJK character: one step
      i++;
    }
    if (i < chars.length && !isWordChar(chars[i])) { return Math.min(chars.length, i + 1); }
    while (i < chars.length && isWordChar(chars[i])) { i++; }
    return i;
  }
  function prevWordStart(pos) {
    var i = pos;
    while (i > 0 && /\s/.test(chars[i - 1])) { i--; }
    if (i > 0 && !isWordChar(chars[i - 1])) { return i - 1; }
    while (i > 0 && isWordChar(chars[i - 1])) { i--; }
    return i;
  }
  function setPending(range) {
    var old = pending;
    pending = range;
    var a = Math.min(old ? old.start : Infinity, range ? range.start : Infinity);
    var b = Math.max(old ? old.end : -Infinity, range ? range.end : -Infinity);
    if (isFinite(a)) { renderRange(a, b); }
    document.getElementById("picker-selection").textContent = range ? "“" + truncate(slice(range.start, range.end), 80) + "”" : "";
  }
  function truncate(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }

  // ---------------------------------------------------------------- picker
  function openPicker() {
    if (!pending || !data.canCode) { return; }
    var mark = article.querySelector("mark.pending");
    var rect = mark ? mark.getBoundingClientRect() : article.getBoundingClientRect();
    picker.hidden = false;
    popover.hidden = true;
    var top = window.scrollY + rect.bottom + 6;
    var left = Math.min(window.scrollX + rect.left, window.scrollX + document.documentElement.clientWidth - 380);
    picker.style.top = top + "px";
    picker.style.left = Math.max(8, left) + "px";
    pickerFilter.value = "";
    pickerIndex = 0;
    fillPicker();
    pickerFilter.focus({ preventScroll: true });
  }
  function closePicker(clear) {
    picker.hidden = true;
    if (clear) { setPending(null); }
    article.focus({ preventScroll: true });
  }
  function fillPicker() {
    var query = pickerFilter.value.trim().toLowerCase();
    var list = data.codes.filter(function (c) { return c.codable && (!query || c.path.toLowerCase().indexOf(query) !== -1); });
    list.sort(function (x, y) {
      var xs = x.shortcut || 99, ys = y.shortcut || 99;
      if (!query && xs !== ys) { return xs - ys; }
      var xn = x.name.toLowerCase().indexOf(query) === 0 ? 0 : 1, yn = y.name.toLowerCase().indexOf(query) === 0 ? 0 : 1;
      return xn - yn;
    });
    pickerItems = list.map(function (c) { return { kind: "code", code: c }; });
    var typed = pickerFilter.value.trim();
    if (data.canAddCodes) {
      var exact = data.codes.some(function (c) { return c.name.toLowerCase() === typed.toLowerCase(); });
      if (typed && !exact) { pickerItems.push({ kind: "new", name: typed }); }
      var selected = pending ? slice(pending.start, pending.end).replace(/\s+/g, " ").trim() : "";
      if (selected && selected.length <= 60 && !typed) { pickerItems.push({ kind: "invivo", name: selected }); }
    }
    pickerIndex = Math.min(pickerIndex, Math.max(0, pickerItems.length - 1));
    pickerList.textContent = "";
    pickerItems.forEach(function (item, i) {
      var li = el("li", { role: "option", "data-index": i });
      if (item.kind === "code") {
        var sw = el("span", { className: "swatch" });
        sw.style.background = item.code.color;
        li.appendChild(sw);
        if (item.code.shortcut) { li.appendChild(el("kbd", {}, String(item.code.shortcut))); }
        li.appendChild(el("span", {}, item.code.path));
      } else {
        li.appendChild(el("span", { className: "new" }, (item.kind === "new" ? "＋ New code “" : "＋ In-vivo code “") + item.name + "”"));
      }
      if (i === pickerIndex) { li.className = "active"; li.setAttribute("aria-selected", "true"); }
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(item); });
      pickerList.appendChild(li);
    });
  }
  function choose(item) {
    if (!item || !pending) { return; }
    if (item.kind === "code") { applyCode(item.code.id); return; }
    api("POST", data.api.codes, { name: item.name }).then(function (res) {
      if (!res.ok) { showToast(res.body.error || "The code could not be created."); return; }
      var code = res.body;
      if (!codes[code.id]) {
        code.path = code.name;
        data.codes.push(code);
        codes[code.id] = code;
        addFilterBox(code);
      }
      applyCode(code.id);
    });
  }
  function applyCode(codeId) {
    var range = pending;
    var id = "tmp-" + (++tempId);
    var quote = slice(range.start, range.end);
    codings[id] = { id: id, code: codeId, coder: data.user, layer: "coder", start: range.start, end: range.end,
                    quote: quote, memo: "", version: 1, created: new Date().toISOString() };
    renderRange(range.start, range.end);
    api("POST", data.api.codings, { code: codeId, start: range.start, end: range.end, quote: quote }).then(function (res) {
      delete codings[id];
      if (res.ok) {
        codings[res.body.id] = res.body;
        showToast("Coded with “" + codes[codeId].name + "”.", "ok");
        addListItem(res.body);
        var status = document.getElementById("progress");
        if (status && status.value === "not_started") { status.value = "in_progress"; }
      } else {
        showToast(res.body.error || "The coding was refused.");
      }
      renderRange(range.start, range.end);
    });
    pickerFilter.value = "";
    fillPicker();
  }
  pickerFilter.addEventListener("input", function () { pickerIndex = 0; fillPicker(); });
  pickerFilter.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { ev.preventDefault(); closePicker(true); return; }
    if (ev.key === "ArrowDown") { ev.preventDefault(); pickerIndex = Math.min(pickerItems.length - 1, pickerIndex + 1); fillPicker(); return; }
    if (ev.key === "ArrowUp") { ev.preventDefault(); pickerIndex = Math.max(0, pickerIndex - 1); fillPicker(); return; }
    if (ev.key === "Enter") { ev.preventDefault(); choose(pickerItems[pickerIndex]); return; }
    if ((ev.key === "ArrowRight" || ev.key === "ArrowLeft") && (ev.shiftKey || ev.altKey) && pending) {
      ev.preventDefault();
      var r = { start: pending.start, end: pending.end };
      if (ev.altKey) {
        r.start = ev.key === "ArrowRight" ? Math.min(r.end - 1, nextWordEnd(r.start)) : prevWordStart(r.start);
        while (r.start < r.end && /\s/.test(chars[r.start])) { r.start++; }
      } else {
        r.end = ev.key === "ArrowRight" ? nextWordEnd(r.end) : Math.max(r.start + 1, prevWordStart(r.end));
        while (r.end > r.start + 1 && /\s/.test(chars[r.end - 1])) { r.end--; }
      }
      setPending(r);
      return;
    }
    if (/^[1-9]$/.test(ev.key) && pickerFilter.value === "") {
      var pinned = data.codes.filter(function (c) { return c.shortcut === +ev.key && c.codable; })[0];
      if (pinned) { ev.preventDefault(); applyCode(pinned.id); }
    }
  });
  pickerFilter.addEventListener("blur", function () {
    setTimeout(function () { if (document.activeElement !== pickerFilter && !picker.contains(document.activeElement)) { closePicker(false); } }, 150);
  });

  // ---------------------------------------------------------------- the coding popover
  function showCodings(ids, anchor) {
    var list = ids.map(function (id) { return codings[id]; }).filter(Boolean);
    if (!list.length) { return; }
    popover.textContent = "";
    list.forEach(function (c) {
      var code = codes[c.code] || { name: "?", color: "#888888" };
      var box = el("div", { className: "coding-box", "data-coding": c.id });
      var head = el("div", { className: "coding-head" });
      var sw = el("span", { className: "swatch" });
      sw.style.background = code.color;
      head.appendChild(sw);
      head.appendChild(el("strong", {}, code.name));
      head.appendChild(el("span", { className: "muted small" }, " " + c.coder + (c.layer === "consensus" ? " · consensus" : "") + " · " + (c.created || "").slice(0, 10)));
      box.appendChild(head);
      box.appendChild(el("blockquote", {}, truncate(slice(c.start, c.end), 300)));
      if (editable(c) && String(c.id).indexOf("tmp-") !== 0) {
        var memo = el("textarea", { rows: 3, "aria-label": "memo", placeholder: "Memo" });
        memo.value = c.memo || "";
        box.appendChild(memo);
        var select = el("select", { "aria-label": "change code" });
        data.codes.filter(function (x) { return x.codable; }).forEach(function (x) {
          var opt = el("option", { value: x.id }, x.path);
          if (x.id === c.code) { opt.selected = true; }
          select.appendChild(opt);
        });
        box.appendChild(select);
        var row = el("div", { className: "coding-actions" });
        var buttons = [
          ["Save", function () { update(c, { memo: memo.value, code: +select.value }); }],
          ["◀ start", function () { update(c, bounds(c, prevWordStart(c.start), c.end)); }],
          ["start ▶", function () { update(c, bounds(c, Math.min(c.end - 1, nextWordEnd(c.start)), c.end)); }],
          ["◀ end", function () { update(c, bounds(c, c.start, Math.max(c.start + 1, prevWordStart(c.end)))); }],
          ["end ▶", function () { update(c, bounds(c, c.start, nextWordEnd(c.end))); }],
          ["Remove", function () { remove(c); }],
        ];
        buttons.forEach(function (b) {
          var button = el("button", { type: "button", className: b[0] === "Remove" ? "danger" : (b[0] === "Save" ? "primary-s" : "") }, b[0]);
          button.addEventListener("click", b[1]);
          row.appendChild(button);
        });
        box.appendChild(row);
      } else if (c.memo) {
        box.appendChild(el("p", { className: "memo small" }, c.memo));
      }
      popover.appendChild(box);
    });
    var close = el("button", { type: "button", className: "link close" }, "Close (Esc)");
    close.addEventListener("click", function () { popover.hidden = true; });
    popover.appendChild(close);
    var rect = anchor.getBoundingClientRect();
    popover.style.top = (window.scrollY + rect.bottom + 6) + "px";
    popover.style.left = Math.max(8, Math.min(window.scrollX + rect.left, window.scrollX + document.documentElement.clientWidth - 420)) + "px";
    popover.hidden = false;
    picker.hidden = true;
  }
  function bounds(c, start, end) {
    while (start < end && /\s/.test(chars[start])) { start++; }
    while (end > start && /\s/.test(chars[end - 1])) { end--; }
    return { start: start, end: end, quote: slice(start, end) };
  }
  function update(c, changes) {
    var before = Object.assign({}, c);
    Object.assign(c, changes);
    renderRange(Math.min(before.start, c.start), Math.max(before.end, c.end));
    api("PATCH", codingUrl(c.id), Object.assign({ version: before.version }, changes)).then(function (res) {
      if (res.ok) {
        codings[c.id] = res.body;
        showToast("Saved.", "ok");
        popover.hidden = true;
      } else {
        codings[c.id] = res.status === 409 && res.body.current ? res.body.current : before;
        showToast(res.body.error || "The change was refused.");
      }
      renderRange(Math.min(before.start, c.start), Math.max(before.end, c.end));
    });
  }
  function remove(c) {
    delete codings[c.id];
    renderRange(c.start, c.end);
    popover.hidden = true;
    api("DELETE", codingUrl(c.id)).then(function (res) {
      if (res.ok) {
        showToast("Coding removed.", "ok");
        var li = document.getElementById("coding-" + c.id);
        if (li) { li.remove(); }
      } else {
        codings[c.id] = c;
        renderRange(c.start, c.end);
        showToast(res.body.error || "The coding could not be removed.");
      }
    });
  }
  // One item of the codings list, in the same form as the server's (interviews/rendering.py).
  function listItem(c) {
    var code = codes[c.code] || { name: "?", color: "#888888" };
    var li = el("li", { id: "coding-" + c.id, "data-coding": c.id });
    var sw = el("span", { className: "swatch" });
    sw.style.background = code.color;
    li.appendChild(sw);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("strong", {}, code.name));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", { className: "muted small" },
      c.coder + (c.layer === "consensus" ? " · consensus" : "") + " · " + c.start + "–" + c.end));
    li.appendChild(el("blockquote", {}, truncate(slice(c.start, c.end), 240)));
    if (c.memo) { li.appendChild(el("p", { className: "memo small" }, c.memo)); }
    return li;
  }
  function addListItem(c) {
    var list = document.getElementById("coding-list");
    var empty = list.querySelector("li.muted");
    if (empty) { empty.remove(); }
    list.insertBefore(listItem(c), list.firstChild);
  }
  // The page carries the first items of a long list; the rest are added 200 at a time when the reader scrolls to
  // the end of the list (no work in the background while the coder is coding).
  function completeList() {
    var list = document.getElementById("coding-list");
    var missing = data.codings.filter(function (c) { return codings[c.id] && !document.getElementById("coding-" + c.id); });
    if (!missing.length) { list.setAttribute("data-complete", "1"); return; }
    var more = el("li", { className: "muted small more", id: "coding-list-more" });
    function label() { more.textContent = missing.length + " more coding(s) — scroll to see them"; }
    function next() {
      var frag = document.createDocumentFragment();
      missing.splice(0, 200).forEach(function (c) { if (codings[c.id]) { frag.appendChild(listItem(codings[c.id])); } });
      list.insertBefore(frag, more);
      if (missing.length) { label(); } else { more.remove(); observer.disconnect(); list.setAttribute("data-complete", "1"); }
    }
    var observer = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) { next(); }
    }, { root: list, rootMargin: "400px" });
    label();
    list.appendChild(more);
    observer.observe(more);
  }
  // A highlight's tooltip (codes and coders) is made when the pointer first reaches it.
  article.addEventListener("mouseover", function (ev) {
    var mark = ev.target.closest && ev.target.closest("mark[data-codings]");
    if (!mark || mark.title) { return; }
    mark.title = mark.getAttribute("data-codings").split(" ").map(function (id) {
      var c = codings[id] || codings[+id];
      if (!c) { return "?"; }
      return (codes[c.code] ? codes[c.code].name : "?") + " (" + c.coder + (c.layer === "consensus" ? ", consensus" : "") + ")";
    }).join("; ");
  });

  // ---------------------------------------------------------------- filters and jumping
  var filterBox = document.getElementById("code-filter");
  var jump = document.getElementById("jump-code");
  function addFilterBox(code) {
    if (!filterBox) { return; }
    var label = el("label", { className: "check small" });
    var box = el("input", { type: "checkbox", value: code.id });
    box.checked = true;
    box.addEventListener("change", function () {
      if (box.checked) { delete hiddenCodes[code.id]; } else { hiddenCodes[code.id] = true; }
      renderAll();
    });
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + code.path));
    filterBox.appendChild(label);
    jump.appendChild(el("option", { value: code.id }, code.path));
  }
  data.codes.forEach(addFilterBox);
  function jumpTo(direction) {
    var wanted = jump.value ? +jump.value : null;
    var list = Object.keys(codings).map(function (k) { return codings[k]; })
      .filter(function (c) { return visible(c) && (wanted === null || c.code === wanted); })
      .sort(function (x, y) { return x.start - y.start || x.end - y.end; });
    if (!list.length) { showToast("No coding of that code here."); return; }
    var here = jumpTo.last === undefined ? -1 : jumpTo.last;
    var target = direction > 0 ? list.filter(function (c) { return c.start > here; })[0] || list[0]
                               : list.filter(function (c) { return c.start < here; }).pop() || list[list.length - 1];
    jumpTo.last = target.start;
    var mark = article.querySelector('mark[data-codings~="' + target.id + '"]');
    if (mark) {
      mark.scrollIntoView({ block: "center" });
      mark.classList.add("flash");
      setTimeout(function () { mark.classList.remove("flash"); }, 1200);
      setCurrent(mark.closest("p[data-s]"));
    }
  }
  document.getElementById("jump-next").addEventListener("click", function () { jumpTo(1); });
  document.getElementById("jump-prev").addEventListener("click", function () { jumpTo(-1); });

  // ---------------------------------------------------------------- keyboard on the text
  function setCurrent(p) {
    if (currentPara) { currentPara.classList.remove("current"); }
    currentPara = p;
    if (p) { p.classList.add("current"); p.scrollIntoView({ block: "nearest" }); }
  }
  article.addEventListener("keydown", function (ev) {
    if (ev.target !== article) { return; }
    var index = currentPara ? paragraphs.indexOf(currentPara) : -1;
    if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); setCurrent(paragraphs[Math.min(paragraphs.length - 1, index + 1)]); }
    else if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); setCurrent(paragraphs[Math.max(0, index - 1)]); }
    else if (ev.key === "Enter" && currentPara) {
      ev.preventDefault();
      setPending(trim(+currentPara.dataset.b, +currentPara.dataset.e));
      openPicker();
    } else if (ev.key === "s" && currentPara) {
      ev.preventDefault();
      var b = +currentPara.dataset.b, e = +currentPara.dataset.e, i = b;
      while (i < e && !/[.!?。！？]/.test(chars[i])) { i++; }
      setPending(trim(b, Math.min(e, i + 1)));
      openPicker();
    } else if (ev.key === "c") {
      var range = selectionRange() || pending;
      if (range) { ev.preventDefault(); setPending(range); openPicker(); }
    } else if (ev.key === "n") { ev.preventDefault(); jumpTo(1); }
    else if (ev.key === "p") { ev.preventDefault(); jumpTo(-1); }
    else if (ev.key === "?") { ev.preventDefault(); document.getElementById("help").hidden = !document.getElementById("help").hidden; }
    else if (ev.key === "Escape") { popover.hidden = true; document.getElementById("help").hidden = true; setPending(null); }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && !popover.hidden) { popover.hidden = true; article.focus({ preventScroll: true }); }
  });

  // ---------------------------------------------------------------- mouse
  article.addEventListener("mouseup", function () {
    if (!data.canCode) { return; }
    var range = selectionRange();
    if (!range) { return; }
    setPending(range);
    window.getSelection().removeAllRanges();
    openPicker();
  });
  article.addEventListener("click", function (ev) {
    var mark = ev.target.closest ? ev.target.closest("mark[data-codings]") : null;
    if (!mark || !window.getSelection().isCollapsed) { return; }
    showCodings(mark.getAttribute("data-codings").split(" "), mark);
  });
  if (stripes) {
    stripes.addEventListener("click", function (ev) {
      var stripe = ev.target.closest(".stripe");
      if (stripe) { showCodings([stripe.getAttribute("data-coding")], stripe); }
    });
  }
  document.getElementById("coding-list").addEventListener("click", function (ev) {
    var li = ev.target.closest("li[data-coding]");
    if (!li) { return; }
    var mark = article.querySelector('mark[data-codings~="' + li.getAttribute("data-coding") + '"]');
    if (mark) { mark.scrollIntoView({ block: "center" }); showCodings([li.getAttribute("data-coding")], mark); }
  });

  // ---------------------------------------------------------------- progress and settings
  var progress = document.getElementById("progress");
  if (progress) {
    progress.addEventListener("change", function () {
      api("POST", data.api.progress, { status: progress.value }).then(function (res) {
        showToast(res.ok ? "Status saved." : (res.body.error || "The status was not saved."), res.ok ? "ok" : "error");
      });
    });
  }
  var snap = document.getElementById("snap");
  if (snap) {
    snap.checked = data.snap;
    snap.addEventListener("change", function () {
      data.snap = snap.checked;
      api("POST", data.api.settings, { snap_to_words: snap.checked });
    });
  }

  // ---------------------------------------------------------------- arriving at a passage (#sel=start-end)
  var match = /^#sel=(\d+)-(\d+)$/.exec(window.location.hash);
  if (match) {
    var target = { start: +match[1], end: +match[2] };
    if (target.end > target.start && target.end <= chars.length) {
      setPending(target);
      var mark = article.querySelector("mark.pending");
      if (mark) { mark.scrollIntoView({ block: "center" }); setCurrent(paragraphOf(target.start)); }
    }
  }
  window.requestAnimationFrame(function () { drawStripes(); setTimeout(completeList, 0); });
  window.addEventListener("resize", scheduleStripes);
  window.WorkbenchCoding = { codings: codings, renderAll: renderAll, pending: function () { return pending; } };
})();
