/* Flask-Shoppable pages: variant picker, "buy the look" summary and image hotspots.
   Progressive enhancement: every form works without this script. */
(function () {
  "use strict";

  function $all(root, selector) {
    return Array.prototype.slice.call(root.querySelectorAll(selector));
  }

  function money(minor, exp, currency) {
    var value = (minor / Math.pow(10, exp)).toFixed(exp);
    return value + " " + currency;
  }

  function variantData(box) {
    var select = box.querySelector("[data-variant-select]");
    if (select) return select.options[select.selectedIndex] || null;
    return box.querySelector("[data-variant-fixed]");
  }

  function refreshProduct(box) {
    var data = variantData(box);
    if (!data) return;
    var d = data.dataset;
    var price = box.querySelector("[data-show-price]");
    var compare = box.querySelector("[data-show-compare]");
    var stock = box.querySelector("[data-show-stock]");
    var qty = box.querySelector("[data-quantity]");
    if (price) price.textContent = d.price;
    if (compare) {
      compare.hidden = !d.compare;
      compare.querySelector("[data-value]").textContent = d.compare || "";
    }
    if (stock) {
      stock.textContent = d.stock;
      stock.classList.toggle("stock--out", d.stock === "Sold out");
    }
    if (qty) {
      var max = Math.max(1, parseInt(d.max, 10) || 1);
      qty.max = String(max);
      var n = parseInt(qty.value, 10);
      if (!(n >= 1)) n = 1;
      if (n > max) n = max;
      qty.value = String(n);
    }
  }

  function isPicked(box) {
    var pick = box.querySelector("[data-pick]") || box.closest("form").querySelector("[data-pick]");
    if (!pick) return false;
    return pick.type === "hidden" || (pick.checked && !pick.disabled);
  }

  function refreshSummary(form) {
    var summary = form.querySelector("[data-summary]");
    var buy = form.querySelector("[data-buy]");
    if (!summary) return;
    var count = 0;
    var total = 0;
    var currency = null;
    var exp = 2;
    var mixed = false;
    $all(form, "[data-product]").forEach(function (box) {
      if (!isPicked(box)) return;
      var data = variantData(box);
      var qty = box.querySelector("[data-quantity]");
      if (!data) return;
      var n = Math.max(1, parseInt(qty && qty.value, 10) || 1);
      count += n;
      if (currency && currency !== data.dataset.currency) mixed = true;
      currency = data.dataset.currency;
      exp = parseInt(data.dataset.exp, 10) || 0;
      total += (parseInt(data.dataset.minor, 10) || 0) * n;
    });
    summary.textContent = "";
    if (!count) {
      summary.textContent = "Pick the pieces you want, then buy them together.";
    } else {
      summary.appendChild(document.createTextNode(count + (count === 1 ? " item" : " items")));
      if (!mixed && currency) {
        summary.appendChild(document.createTextNode(" · "));
        var strong = document.createElement("strong");
        strong.textContent = money(total, exp, currency);
        summary.appendChild(strong);
      }
    }
    if (buy && !form.hasAttribute("data-single")) {
      if (!buy.dataset.label) buy.dataset.label = buy.textContent;
      buy.setAttribute("aria-disabled", count ? "false" : "true");
      buy.textContent = count ? "Buy " + (count === 1 ? "1 item" : count + " items") : buy.dataset.label;
    }
  }

  function setupForm(form) {
    $all(form, "[data-product]").forEach(function (box) {
      refreshProduct(box);
      var select = box.querySelector("[data-variant-select]");
      if (select) select.addEventListener("change", function () {
        refreshProduct(box);
        refreshSummary(form);
      });
      var qty = box.querySelector("[data-quantity]");
      if (qty) qty.addEventListener("input", function () { refreshSummary(form); });
      var pick = box.querySelector("[data-pick]");
      if (pick && pick.type === "checkbox") pick.addEventListener("change", function () { refreshSummary(form); });
    });
    var all = form.querySelector("[data-select-all]");
    if (all) {
      all.hidden = false;
      all.addEventListener("click", function () {
        $all(form, "input[data-pick]").forEach(function (pick) { if (!pick.disabled) pick.checked = true; });
        refreshSummary(form);
      });
    }
    form.addEventListener("submit", function (event) {
      var picked = $all(form, "[data-product]").some(isPicked);
      if (!picked) {
        event.preventDefault();
        var summary = form.querySelector("[data-summary]");
        if (summary) summary.textContent = "Choose at least one item first.";
        var first = form.querySelector("input[data-pick]:not(:disabled)");
        if (first) first.focus();
      }
    });
    refreshSummary(form);
  }

  function closeTips(except) {
    $all(document, "[data-hotspot]").forEach(function (button) {
      if (button === except) return;
      button.setAttribute("aria-expanded", "false");
      var tip = document.getElementById(button.getAttribute("aria-controls"));
      if (tip) tip.hidden = true;
    });
  }

  function setupHotspots() {
    $all(document, "[data-hotspot]").forEach(function (button) {
      var tip = document.getElementById(button.getAttribute("aria-controls"));
      button.addEventListener("click", function (event) {
        event.stopPropagation();
        var open = button.getAttribute("aria-expanded") === "true";
        closeTips(button);
        button.setAttribute("aria-expanded", open ? "false" : "true");
        if (tip) tip.hidden = open;
      });
      if (tip) tip.addEventListener("click", function (event) {
        var card = document.getElementById("product-" + tip.getAttribute("data-tip"));
        if (!card) return;
        event.preventDefault();
        closeTips(null);
        card.scrollIntoView({ behavior: "smooth", block: "center" });
        card.classList.add("pick--flash");
        window.setTimeout(function () { card.classList.remove("pick--flash"); }, 1600);
        var pick = card.querySelector("input[data-pick]:not(:disabled)") || card;
        pick.focus({ preventScroll: true });
        if (history.replaceState) history.replaceState(null, "", "#" + card.id);
      });
    });
    document.addEventListener("click", function () { closeTips(null); });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      var open = document.querySelector('[data-hotspot][aria-expanded="true"]');
      closeTips(null);
      if (open) open.focus();
    });
  }

  function start() {
    $all(document, "form[data-buy-form]").forEach(setupForm);
    setupHotspots();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
