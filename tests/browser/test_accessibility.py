"""Accessibility checks in Chromium: names, labels, alt text, contrast, keyboard focus.

Not a full WCAG audit (no axe-core offline), but the checks a person would do first,
run on the rendered pages (so CSS is applied): every image has alt text, every control
a label, every button and link a name, text meets WCAG AA contrast against the colour
behind it, and focus is visible when tabbing.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.browser.conftest import DESKTOP, PHONE
from tests.pages_data import look

pytestmark = pytest.mark.slow

AUDIT = """
() => {
  const problems = [];
  const visible = (el) => {
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") return false;
    if (el.closest("[hidden], [aria-hidden=true]")) return false;
    const box = el.getBoundingClientRect();
    return box.width > 1 && box.height > 1;
  };
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("img without alt: " + img.src);
    else if (!img.alt && !img.closest("[aria-hidden=true]") && img.closest("a") &&
             !img.closest("a").textContent.trim()) problems.push("link with only a blank img");
  }
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
      problems.push("control without a label: " + (el.name || el.id));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (el.closest("[aria-hidden=true]") || el.hidden) continue;
    const name = (el.getAttribute("aria-label") || el.textContent || "").trim() ||
      Array.from(el.querySelectorAll("img")).map((i) => i.alt).join("").trim();
    if (!name) problems.push("nameless " + el.tagName + ": " + el.outerHTML.slice(0, 80));
  }
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = (c) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const blend = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      // Text on a picture: not measurable here (select arrows are a gradient, not a picture).
      if (style.backgroundImage !== "none" && !node.matches("select")) return null;
      const bg = parse(style.backgroundColor);
      if (bg && bg.a > 0) { layers.push(bg); if (bg.a >= 1) break; }
    }
    let color = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) color = blend(layer, color);
    return color;
  };
  const opacity = (el) => {
    let o = 1;
    for (let node = el; node; node = node.parentElement) {
      o *= Number(getComputedStyle(node).opacity);
    }
    return o;
  };
  for (const el of document.querySelectorAll("body *")) {
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !visible(el) || el.closest(".visually-hidden, .skip-link, option")) continue;
    if (el.matches(":disabled") || el.closest(":disabled")) continue;
    const style = getComputedStyle(el);
    const bg = background(el);
    if (!bg) continue;
    const fg = parse(style.color);
    fg.a *= opacity(el);
    const text = blend(fg, bg);
    const [hi, lo] = [lum(text), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5))
      problems.push(`contrast ${ratio.toFixed(2)} for "${el.textContent.trim().slice(0, 30)}"`);
  }
  return problems;
}
"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize(
    "path", ["/shop/", "/shop/p/summer-look", "/shop/products/linen-shirt", "/shop/p/missing"]
)
def test_pages_pass_the_audit(
    app: Flask,
    session: Session,
    live_url: str,
    new_page: Any,
    path: str,
    viewport: dict[str, int],
) -> None:
    look(session)
    page = new_page(viewport, reduced_motion="reduce")  # no transitions half-way through
    page.goto(f"{live_url}{path}")
    assert page.evaluate(AUDIT) == []
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.title()


def test_embed_card_passes_the_audit(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    look(session)
    page = new_page(PHONE, reduced_motion="reduce")
    page.goto(f"{live_url}/shop/embed/summer-look")
    assert page.evaluate(AUDIT) == []


def test_keyboard_focus_is_visible_and_the_skip_link_works(
    app: Flask, session: Session, live_url: str, new_page: Any
) -> None:
    look(session)
    page = new_page(PHONE)
    page.goto(f"{live_url}/shop/p/summer-look")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    seen = 0
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body"):
            break  # past the last control
        style, width, shadow, label_outline = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " const label = document.activeElement.labels && document.activeElement.labels[0];"
            " const l = label ? getComputedStyle(label) : null;"
            " return [s.outlineStyle, s.outlineWidth, s.boxShadow,"
            " l ? l.outlineStyle : 'none'] })()"
        )
        focused = (style != "none" and width != "0px") or shadow != "none"
        assert focused or label_outline != "none", page.evaluate(
            "document.activeElement.outerHTML.slice(0, 120)"
        )
        seen += 1
    assert seen >= 12  # hotspots, select all, products, toggles, pickers, buy, footer


def test_the_audit_finds_problems(new_page: Any) -> None:
    """The checks above are not vacuous: a page with each fault fails each check."""
    page = new_page(PHONE)
    page.set_content(
        "<html lang=en><body><img src='data:,'><input name=q>"
        "<p style='color:#aaa;background:#fff'>faint</p><button></button></body></html>"
    )
    problems = page.evaluate(AUDIT)
    assert [p.split(":")[0].split(" ")[0] for p in problems] == [
        "img",
        "control",
        "nameless",
        "contrast",
    ]
