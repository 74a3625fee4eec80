// MathJax 3 settings for pymdownx.arithmatex (generic mode): typeset only what arithmatex marked.
// The MathJax script itself (tex-svg.js, one self-contained file) is served from the site.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
  svg: {
    fontCache: "global",
  },
};
