/* Flask-Shoppable merchant pages: tagging products on a post's image, copy buttons.
   No dependencies; the pages work without it (positions can be typed, links selected). */
(function () {
  "use strict";

  // --- tagging: click the image (or use arrow keys) to set the selected row's x/y -----
  var tagger = document.querySelector("[data-tagger]");
  if (tagger) {
    var img = tagger.querySelector("img");
    var status = document.getElementById("tagger-status");
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-tag-row]"));
    var active = null;

    var parts = function (row) {
      return {
        product: row.querySelector("select"),
        x: row.querySelector("[data-axis=x]"),
        y: row.querySelector("[data-axis=y]")
      };
    };
    var label = function (row) {
      var select = parts(row).product;
      var option = select && select.options[select.selectedIndex];
      return select && select.value ? option.text : "row " + (rows.indexOf(row) + 1);
    };
    var say = function (text) { if (status) { status.textContent = text; } };

    var choose = function (row) {
      rows.forEach(function (r) { r.removeAttribute("aria-current"); });
      active = row;
      row.setAttribute("aria-current", "true");
    };

    var draw = function () {
      Array.prototype.slice.call(tagger.querySelectorAll(".hotspot")).forEach(function (el) {
        el.parentNode.removeChild(el);
      });
      rows.forEach(function (row, index) {
        var p = parts(row);
        if (!p.product || !p.product.value || p.x.value === "" || p.y.value === "") { return; }
        var dot = document.createElement("span");
        dot.className = "hotspot";
        dot.setAttribute("data-hotspot", String(index));
        dot.style.left = p.x.value + "%";
        dot.style.top = p.y.value + "%";
        dot.textContent = String(index + 1);
        tagger.appendChild(dot);
      });
    };

    var clamp = function (v) { return Math.round(Math.min(100, Math.max(0, v)) * 100) / 100; };
    var place = function (x, y) {
      if (!active) { return; }
      var p = parts(active);
      p.x.value = clamp(x).toFixed(2);
      p.y.value = clamp(y).toFixed(2);
      draw();
      say(label(active) + " placed at " + p.x.value + "% across, " + p.y.value + "% down.");
    };

    // The first row with a product but no position, else the first with none at all.
    var start = rows.filter(function (r) { var p = parts(r); return p.product.value && p.x.value === ""; })[0] ||
      rows.filter(function (r) { return !parts(r).product.value; })[0] || rows[0];
    if (start) { choose(start); }

    rows.forEach(function (row) {
      row.addEventListener("focusin", function () { choose(row); });
      row.addEventListener("input", draw);
      row.addEventListener("change", draw);
      var button = row.querySelector("[data-place]");
      if (button) {
        button.addEventListener("click", function () {
          choose(row);
          tagger.focus();
          say("Click the image or use the arrow keys to place " + label(row) + ".");
        });
      }
    });

    tagger.addEventListener("click", function (event) {
      var box = img.getBoundingClientRect();
      if (!box.width || !box.height) { return; }
      place((event.clientX - box.left) / box.width * 100, (event.clientY - box.top) / box.height * 100);
    });

    tagger.addEventListener("keydown", function (event) {
      if (!active) { return; }
      var p = parts(active);
      var x = p.x.value === "" ? 50 : parseFloat(p.x.value);
      var y = p.y.value === "" ? 50 : parseFloat(p.y.value);
      var step = event.shiftKey ? 5 : 1;
      var keys = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step], Enter: [0, 0], " ": [0, 0] };
      var move = keys[event.key];
      if (!move) { return; }
      event.preventDefault();
      place(x + move[0], y + move[1]);
    });
    draw();
  }

  // --- forms that ask first: <form data-confirm="Delete it?"> -------------------------------
  Array.prototype.slice.call(document.querySelectorAll("form[data-confirm]")).forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // --- copy buttons: <button data-copy="#input-id"> ---------------------------------------
  Array.prototype.slice.call(document.querySelectorAll("[data-copy]")).forEach(function (button) {
    button.addEventListener("click", function () {
      var target = document.querySelector(button.getAttribute("data-copy"));
      if (!target) { return; }
      var text = target.value || target.textContent;
      var done = function () {
        var original = button.getAttribute("data-label") || button.textContent;
        button.setAttribute("data-label", original);
        button.textContent = "Copied";
        button.setAttribute("data-copied", "true");
        window.setTimeout(function () { button.textContent = original; button.removeAttribute("data-copied"); }, 2000);
      };
      var fallback = function () {
        if (target.select) { target.select(); }
        try { document.execCommand("copy"); done(); } catch (e) { /* left selected for Ctrl+C */ }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, fallback);
      } else {
        fallback();
      }
    });
  });
})();
