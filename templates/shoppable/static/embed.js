/* Flask-Shoppable embeds. Put this on a page:
 *   <div class="shoppable-embed" data-post="SLUG"></div>    (optional: data-channel, data-max-width)
 *   or <a class="shoppable-embed" href="https://SHOP/shop/p/SLUG">Shop this look</a>
 *   <script async src="https://SHOP/shop/embed.js"></script>
 * Each placeholder becomes a responsive iframe of the post's card, resized to its content
 * by messages from the card (accepted only from the shop's own origin). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || window.ShoppableEmbed) return;
  var base = script.src.replace(/\/embed\.js(?:[?#].*)?$/, "");
  var shop = new URL(base);
  var origin = shop.origin;
  var postPath = shop.pathname.replace(/\/$/, "") + "/p/";
  var frames = [];

  function slugOf(el) {
    if (el.getAttribute("data-post")) return el.getAttribute("data-post");
    var link = el.tagName === "A" ? el : el.querySelector("a[href]");
    if (!link) return null;
    try {
      var url = new URL(link.getAttribute("href"), document.baseURI);
      if (url.origin !== origin || url.pathname.indexOf(postPath) !== 0) return null;
      var rest = url.pathname.slice(postPath.length).replace(/\/$/, "");
      return rest && rest.indexOf("/") < 0 ? decodeURIComponent(rest) : null;
    } catch (e) {
      return null;
    }
  }

  function build(el) {
    var slug = slugOf(el);
    if (!slug) return;
    el.setAttribute("data-shoppable-ready", "");
    var src = base + "/embed/" + encodeURIComponent(slug);
    var channel = el.getAttribute("data-channel");
    if (channel) src += "?channel=" + encodeURIComponent(channel);
    var maxWidth = parseInt(el.getAttribute("data-max-width"), 10) || 480;
    var frame = document.createElement("iframe");
    frame.src = src;
    frame.title = el.getAttribute("data-title") || (el.textContent || "").trim() || "Shoppable post";
    frame.loading = "lazy";
    frame.setAttribute("allowtransparency", "true");
    frame.style.cssText = "display:block;width:100%;max-width:" + maxWidth +
      "px;height:" + Math.round(maxWidth * 1.55) + "px;border:0;margin:0 auto;color-scheme:light;";
    frames.push(frame);
    if (el.tagName === "A") {
      el.parentNode.replaceChild(frame, el);
    } else {
      el.textContent = "";
      el.appendChild(frame);
    }
  }

  function scan(root) {
    var found = (root || document).querySelectorAll(".shoppable-embed:not([data-shoppable-ready])");
    Array.prototype.forEach.call(found, build);
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== origin) return;
    var data = event.data;
    if (!data || data.type !== "shoppable:resize") return;
    var height = Math.round(Number(data.height));
    if (!(height > 0)) return;
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === event.source) {
        frames[i].style.height = Math.min(Math.max(height, 120), 4000) + "px";
      }
    }
  });

  window.ShoppableEmbed = { scan: scan };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { scan(); });
  else scan();
})();
