// Wide tables, equations and code scroll sideways inside their block rather than widening the page.
// This makes that visible and reachable: a scrolling table, display equation or code block gets a
// cue above it ("scroll sideways"), the first two a shadow at the right edge and a table a sticky
// first column too (CSS:
// .is-scrollable), and every scrolling block takes keyboard focus so it can be scrolled with the
// arrow keys, as a region named by what it is and its number on the page ("Equation 3, scrolls
// sideways": landmarks need names of their own). Any element with data-scroll-cue gets the cue.
(function () {
  "use strict";

  const EQUATION = ".md-typeset div.arithmatex";
  const CODE = ".md-typeset pre > code";
  const REGIONS = ".md-typeset__scrollwrap, [data-scroll-cue], " + EQUATION + ", " + CODE;
  const names = new Map(); // region -> "Table 2", counted by kind in page order

  function kind(region) {
    if (region.matches(EQUATION)) return "Equation";
    if (region.matches(CODE)) return "Code";
    return region.querySelector("table") ? "Table" : "Block";
  }

  // The block the cue goes above: a code block's <pre>, which holds the scrolling <code>.
  function host(region) {
    return region.matches(CODE) ? region.parentElement : region;
  }

  function cue(region) {
    region = host(region);
    if (region.parentElement.classList.contains("scroll-cued")) return;
    const wrapper = document.createElement("div");
    wrapper.className = "scroll-cued site-cue";
    const note = document.createElement("p");
    note.className = "scroll-cue";
    note.textContent = region.matches(EQUATION)
      ? "Wider than the page: scroll sideways for the rest of the equation →"
      : "Wider than the page: scroll sideways for the rest →";
    region.before(wrapper);
    wrapper.append(note, region);
  }

  function update(region) {
    const scrolls = region.scrollWidth > region.clientWidth + 1;
    if (scrolls) {
      region.tabIndex = 0;
      if (!region.hasAttribute("aria-label")) {
        region.setAttribute("aria-label", `${names.get(region)}, scrolls sideways`);
      }
      region.setAttribute("role", region.getAttribute("role") || "region");
    } else if (region.getAttribute("role") === "region") {
      region.removeAttribute("tabindex");
      region.removeAttribute("role");
      region.removeAttribute("aria-label");
    }
    const wrapper = host(region).parentElement;
    if (wrapper.classList.contains("scroll-cued")) {
      wrapper.classList.toggle("is-scrollable", scrolls);
    }
  }

  function start() {
    const regions = [...document.querySelectorAll(REGIONS)];
    const counts = {};
    for (const region of regions) {
      const k = kind(region);
      counts[k] = (counts[k] || 0) + 1;
      names.set(region, `${k} ${counts[k]}`);
    }
    regions.forEach(cue);
    // A region scrolls or stops scrolling when it or its content changes size: a tab shown,
    // MathJax typesetting, the window turned.
    const observer = new ResizeObserver((entries) => {
      for (const entry of entries) update(entry.target.closest(REGIONS) || entry.target);
    });
    for (const region of regions) {
      observer.observe(region);
      if (region.firstElementChild) observer.observe(region.firstElementChild);
      update(region);
    }
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(() => regions.forEach(update));
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
