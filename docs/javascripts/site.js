// Wide tables, equations and code scroll sideways inside their block rather than widening the page.
// This makes that visible and reachable: a scrolling table gets a cue above it ("scroll sideways")
// and a sticky first column (CSS: .is-scrollable), and every scrolling block takes keyboard focus
// so it can be scrolled with the arrow keys. Any element with data-scroll-cue gets the same cue.
(function () {
  "use strict";

  const CUED = ".md-typeset__scrollwrap, [data-scroll-cue]";
  const FOCUSABLE = ".md-typeset div.arithmatex, .md-typeset pre > code, " + CUED;

  function cue(region) {
    if (region.parentElement.classList.contains("scroll-cued")) return;
    const wrapper = document.createElement("div");
    wrapper.className = "scroll-cued site-cue";
    const note = document.createElement("p");
    note.className = "scroll-cue";
    note.textContent = "Wider than the page: scroll sideways for the rest →";
    region.before(wrapper);
    wrapper.append(note, region);
  }

  function update(region) {
    const scrolls = region.scrollWidth > region.clientWidth + 1;
    if (scrolls) {
      region.tabIndex = 0;
      if (!region.hasAttribute("aria-label")) region.setAttribute("aria-label", "scrollable");
      region.setAttribute("role", region.getAttribute("role") || "region");
    } else if (region.getAttribute("role") === "region") {
      region.removeAttribute("tabindex");
      region.removeAttribute("role");
      region.removeAttribute("aria-label");
    }
    const wrapper = region.parentElement;
    if (wrapper.classList.contains("scroll-cued")) {
      wrapper.classList.toggle("is-scrollable", scrolls);
    }
  }

  function start() {
    const regions = [...document.querySelectorAll(FOCUSABLE)];
    regions.filter((r) => r.matches(CUED)).forEach(cue);
    // A region scrolls or stops scrolling when it or its content changes size: a tab shown,
    // MathJax typesetting, the window turned.
    const observer = new ResizeObserver((entries) => {
      for (const entry of entries) update(entry.target.closest(FOCUSABLE) || entry.target);
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
