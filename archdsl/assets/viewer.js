// archdsl diagram viewer: pan and zoom the SVG, search boxes by node id, and describe the
// clicked box in the side panel. Data: the JSON in <script id="archdsl-data">; each box's SVG
// group has the id data.boxes[i].dom.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("archdsl-data").textContent);
  var canvas = document.getElementById("canvas");
  var svg = canvas.querySelector("svg");
  var panel = document.getElementById("panel");
  var status = document.getElementById("status");
  var full = svg.viewBox.baseVal;
  var home = { x: full.x, y: full.y, width: full.width, height: full.height };
  var view = { x: home.x, y: home.y, width: home.width, height: home.height };
  var selected = null;
  svg.removeAttribute("width");
  svg.removeAttribute("height");

  function apply() {
    svg.setAttribute("viewBox", [view.x, view.y, view.width, view.height].join(" "));
  }

  // Keep the view's aspect equal to the canvas', so screen and view coordinates scale alike.
  function fit() {
    var cw = canvas.clientWidth || 1, ch = canvas.clientHeight || 1;
    var scale = Math.max(home.width / cw, home.height / ch) * 1.02;
    view.width = cw * scale;
    view.height = ch * scale;
    view.x = home.x + (home.width - view.width) / 2;
    view.y = home.y + (home.height - view.height) / 2;
    apply();
  }

  function toView(clientX, clientY) {
    var r = canvas.getBoundingClientRect();
    return { x: view.x + (clientX - r.left) * view.width / r.width,
             y: view.y + (clientY - r.top) * view.height / r.height };
  }

  function zoom(factor, clientX, clientY) {
    var p = toView(clientX, clientY);
    view.x = p.x - (p.x - view.x) * factor;
    view.y = p.y - (p.y - view.y) * factor;
    view.width *= factor;
    view.height *= factor;
    apply();
  }

  function centerOn(el, zoomIn) {
    var r = el.getBoundingClientRect();
    var c = toView(r.left + r.width / 2, r.top + r.height / 2);
    var cr = canvas.getBoundingClientRect();
    if (zoomIn) {  // at least readable: the box a fifth of the canvas wide
      var factor = Math.min(1, (r.width * 5) / cr.width);
      view.width *= factor;
      view.height *= factor;
    }
    view.x = c.x - view.width / 2;
    view.y = c.y - view.height / 2;
    apply();
  }

  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    zoom(Math.exp(ev.deltaY * 0.0015), ev.clientX, ev.clientY);
  }, { passive: false });

  var drag = null;
  canvas.addEventListener("pointerdown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, moved: false };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener("pointermove", function (ev) {
    if (!drag) { return; }
    var r = canvas.getBoundingClientRect();
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 3) { return; }
    drag.moved = true;
    canvas.classList.add("dragging");
    view.x -= dx * view.width / r.width;
    view.y -= dy * view.height / r.height;
    drag.x = ev.clientX;
    drag.y = ev.clientY;
    apply();
  });
  canvas.addEventListener("pointerup", function (ev) {
    var moved = drag && drag.moved;
    drag = null;
    canvas.classList.remove("dragging");
    if (moved) { return; }
    var g = document.elementFromPoint(ev.clientX, ev.clientY);
    while (g && g !== svg && !(g.classList && g.classList.contains("node"))) { g = g.parentNode; }
    if (g && g !== svg && byDom[g.id] !== undefined) { select(byDom[g.id], false); }
  });

  var byDom = {};
  data.boxes.forEach(function (box, i) { byDom[box.dom] = i; });

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function addRow(table, label, value) {
    if (value === null || value === undefined || value === "") { return; }
    var tr = document.createElement("tr");
    var th = document.createElement("th");
    th.textContent = label;
    tr.appendChild(th);
    cell(tr, value);
    table.appendChild(tr);
  }

  function count(n) { return n.toLocaleString("en-US"); }
  function shape(s) { return s.join("×"); }

  function describe(box) {
    panel.textContent = "";
    var h = document.createElement("h2");
    h.textContent = box.name;
    panel.appendChild(h);
    var kind = document.createElement("div");
    kind.className = "kind";
    kind.textContent = box.kind === "block" ? "block " + box.type + " (collapsed)" : box.type;
    panel.appendChild(kind);
    var t = document.createElement("table");
    addRow(t, "type", box.type);
    if (box.key_args) { addRow(t, "summary", box.key_args); }
    Object.keys(box.args || {}).forEach(function (k) {
      addRow(t, k, JSON.stringify(box.args[k]));
    });
    (box.inputs || []).forEach(function (inp, i) {
      addRow(t, i === 0 ? "input shapes" : "", inp[0] + ": " + shape(inp[1]));
    });
    addRow(t, "output shape", shape(box.shape));
    if (box.kind !== "input" && box.kind !== "output") {
      addRow(t, "params", count(box.trainable + box.non_trainable) + " (" +
             count(box.trainable) + " trainable, " + count(box.non_trainable) + " non-trainable)");
      addRow(t, "MACs", count(box.macs));
    }
    addRow(t, "receptive field", box.rf);
    if (box.members) { addRow(t, "layers", count(box.members.length) + ": " +
                              box.members.slice(0, 40).join(", ") +
                              (box.members.length > 40 ? ", …" : "")); }
    addRow(t, "block", box.scope);
    addRow(t, "defined at", box.loc);
    panel.appendChild(t);
  }

  function select(i, center) {
    if (selected !== null) {
      var old = document.getElementById(data.boxes[selected].dom);
      if (old) { old.classList.remove("selected"); }
    }
    selected = i;
    var box = data.boxes[i];
    var el = document.getElementById(box.dom);
    if (el) {
      el.classList.add("selected");
      if (center) { centerOn(el, true); }
    }
    describe(box);
    history.replaceState(null, "", "#node=" + encodeURIComponent(box.name));
  }

  function find(query) {
    var q = query.trim();
    if (!q) { return null; }
    if (data.index[q] !== undefined) { return data.index[q]; }
    var lower = q.toLowerCase(), ids = Object.keys(data.index);
    for (var k = 0; k < ids.length; k++) {
      if (ids[k].toLowerCase().indexOf(lower) >= 0) { return data.index[ids[k]]; }
    }
    return null;
  }

  function markMatches(query) {
    var lower = query.trim().toLowerCase();
    data.boxes.forEach(function (box) {
      var el = document.getElementById(box.dom);
      if (!el) { return; }
      var hit = lower && box.name.toLowerCase().indexOf(lower) >= 0;
      el.classList.toggle("match", Boolean(hit));
    });
  }

  var search = document.getElementById("search");
  document.getElementById("find").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var i = find(search.value);
    markMatches(search.value);
    status.textContent = i === null ? "no node '" + search.value.trim() + "'" : "";
    if (i !== null) { select(i, true); }
  });
  document.getElementById("zoom-in").addEventListener("click", function () {
    var r = canvas.getBoundingClientRect();
    zoom(1 / 1.25, r.left + r.width / 2, r.top + r.height / 2);
  });
  document.getElementById("zoom-out").addEventListener("click", function () {
    var r = canvas.getBoundingClientRect();
    zoom(1.25, r.left + r.width / 2, r.top + r.height / 2);
  });
  document.getElementById("zoom-fit").addEventListener("click", fit);
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "/" && document.activeElement !== search) { ev.preventDefault(); search.focus(); }
  });
  window.addEventListener("resize", fit);

  fit();
  var m = /#node=(.*)$/.exec(location.hash);
  if (m) {
    var i = find(decodeURIComponent(m[1]));
    if (i !== null) { select(i, true); }
  }
  document.body.setAttribute("data-ready", "1");
})();
