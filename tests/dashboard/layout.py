"""Layout checks a browser runs on a drawn page: nothing cut, nothing spilling sideways.

``overflowing(driver)`` lists every visible text element whose text runs past its own box,
past the block that holds it, or past the window, every input whose placeholder is cut, and
says so when the page itself scrolls sideways. Text inside a box made to scroll (the tables)
or to cut with an ellipsis, and the charts' SVG (plotly lays out its own text), are left out:
they are cut on purpose.
"""

from __future__ import annotations

from typing import Any

WIDTHS = (1400, 1024, 390)  # a desktop, a small laptop or tablet, a phone

_SCRIPT = """
const vw = document.documentElement.clientWidth, out = [];
if (document.documentElement.scrollWidth > vw + 1)
  out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px in ${vw}`);
const scrolls = s => ['auto', 'scroll', 'hidden'].includes(s.overflowX);
const classes = el => typeof el.className === 'string' && el.className.trim()
  ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + classes(el);
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('svg, .dash-spreadsheet-container, .dash-table-container, .offcanvas:not(.show)'))
    continue;
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const s = getComputedStyle(el);
  if (s.display === 'none' || s.visibility === 'hidden' || s.textOverflow === 'ellipsis') continue;
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) continue;
  const text = el.textContent.trim().slice(0, 40);
  const scrollable = ['auto', 'scroll'].includes(s.overflowX);
  if (el.clientWidth && el.scrollWidth > el.clientWidth + 1 && !scrollable)
    out.push(`${name(el)} "${text}": text ${el.scrollWidth} px in a ${el.clientWidth} px box`);
  const [left, right] = [Math.round(r.left), Math.round(r.right)];
  if (r.right > vw + 1 || r.left < -1)
    out.push(`${name(el)} "${text}": off the window (${left}..${right} of ${vw})`);
  let box = el.parentElement;
  while (box && getComputedStyle(box).display === 'inline') box = box.parentElement;
  if (box) {
    const b = box.getBoundingClientRect(), bs = getComputedStyle(box);
    if (!scrolls(bs) && (r.right > b.right + 1 || r.left < b.left - 1))
      out.push(`${name(el)} "${text}": spills out of ${name(box)}`);
  }
}
const ctx = document.createElement('canvas').getContext('2d');
for (const input of document.querySelectorAll('input[placeholder]')) {
  if (input.value || !input.offsetParent || !input.placeholder) continue;
  const s = getComputedStyle(input);
  ctx.font = s.font;
  const wide = ctx.measureText(input.placeholder).width;
  const room = input.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  if (wide > room + 1)
    out.push(`${name(input)} placeholder "${input.placeholder.slice(0, 40)}": ` +
             `${Math.round(wide)} px in ${Math.round(room)} px`);
}
return out;
"""


def overflowing(driver: Any) -> list[str]:
    """What spills on the page now in ``driver`` (empty: the layout holds)."""
    found: list[str] = driver.execute_script(_SCRIPT)
    return found


def resize(driver: Any, width: int, height: int = 1000) -> None:
    """The window's inner width becomes ``width`` (the outer size differs by the frame)."""
    driver.set_window_size(width, height)
    inner = int(driver.execute_script("return window.innerWidth"))
    if inner != width:
        driver.set_window_size(2 * width - inner, height)
