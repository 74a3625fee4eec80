// Making HTML and SVG elements.

const SVG = "http://www.w3.org/2000/svg";

function make(node, attributes, text) {
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// An HTML element with these attributes and, when given, this text.
export function element(tag, attributes = {}, text) {
  return make(document.createElement(tag), attributes, text);
}

// An SVG element with these attributes and, when given, this text.
export function svg(tag, attributes = {}, text) {
  return make(document.createElementNS(SVG, tag), attributes, text);
}
