// A spreadsheet formula as a reader types it, "=(a_o1-t1)*a_o1*(1-a_o1)*a_h1", read into a
// function of the network's names. The operators and their order are a spreadsheet's: unary minus
// binds tighter than ^ (=-2^2 is 4) and ^ groups from the left (=2^3^2 is 64).

const FUNCTIONS = {
  EXP: [1, Math.exp],
  LN: [1, Math.log],
  LOG: [1, Math.log10],
  LOG10: [1, Math.log10],
  SQRT: [1, Math.sqrt],
  ABS: [1, Math.abs],
  TANH: [1, Math.tanh],
  POWER: [2, Math.pow],
};
const MAX_LENGTH = 2000; // characters: a formula longer than any gradient's is not read
const MAX_DEPTH = 200; // parentheses, signs and calls inside one another
const TOKEN = /\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|([-+*/^(),]))/y;
// What a reader may type for an operator besides the ASCII one.
const TYPED = [[/[−–]/g, "-"], [/[·×⋅∙]/g, "*"], [/÷/g, "/"]];

export class FormulaError extends Error {}

function tokens(text) {
  const found = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(text);
    if (!match) {
      if (!text.slice(at).trim()) break;
      throw new FormulaError(`cannot read "${text.slice(at).trim().slice(0, 12)}"`);
    }
    if (match[1] !== undefined) found.push({ kind: "number", value: Number(match[1]) });
    else if (match[2] !== undefined) found.push({ kind: "name", value: match[2] });
    else found.push({ kind: match[3] });
  }
  return found;
}

// `text` (with or without its "=") as a function of a point: point[index[name]] is name's value.
// `names` are the names a formula may use; case does not matter, as in a spreadsheet.
export function readFormula(text, names) {
  let source = String(text).trim();
  for (const [pattern, ascii] of TYPED) source = source.replace(pattern, ascii);
  if (source.startsWith("=")) source = source.slice(1);
  if (!source.trim()) throw new FormulaError("the formula is empty");
  if (source.length > MAX_LENGTH) throw new FormulaError(`the formula is longer than ${MAX_LENGTH} characters`);
  const index = new Map(names.map((name, k) => [name.toLowerCase(), k]));
  const list = tokens(source);
  let at = 0;
  const peek = () => list[at]?.kind;
  const expect = (kind) => {
    if (peek() !== kind) throw new FormulaError(`expected "${kind}" ${where()}`);
    at += 1;
  };
  const where = () => (at < list.length ? `at token ${at + 1}` : "at the end");

  let depth = 0;
  function sum() {
    if (++depth > MAX_DEPTH) throw new FormulaError(`the formula nests deeper than ${MAX_DEPTH} levels`);
    const value = terms();
    depth -= 1;
    return value;
  }
  function terms() {
    let left = product();
    while (peek() === "+" || peek() === "-") {
      const op = list[at++].kind;
      const a = left, b = product();
      left = op === "+" ? (p) => a(p) + b(p) : (p) => a(p) - b(p);
    }
    return left;
  }
  function product() {
    let left = power();
    while (peek() === "*" || peek() === "/") {
      const op = list[at++].kind;
      const a = left, b = power();
      left = op === "*" ? (p) => a(p) * b(p) : (p) => a(p) / b(p);
    }
    return left;
  }
  function power() {
    let left = signed();
    while (peek() === "^") {
      at += 1;
      const a = left, b = signed();
      left = (p) => a(p) ** b(p);
    }
    return left;
  }
  function signed() {
    let negative = false;
    while (peek() === "-" || peek() === "+") negative = list[at++].kind === "-" ? !negative : negative;
    const a = atom();
    return negative ? (p) => -a(p) : a;
  }
  function atom() {
    const token = list[at];
    if (!token) throw new FormulaError("the formula ends too early");
    at += 1;
    if (token.kind === "number") return () => token.value;
    if (token.kind === "(") {
      const inner = sum();
      expect(")");
      return inner;
    }
    if (token.kind === "name" && peek() === "(") return call(token.value);
    if (token.kind === "name") {
      const k = index.get(token.value.toLowerCase());
      if (k === undefined) throw new FormulaError(`"${token.value}" is not a name of this network`);
      return (p) => p[k];
    }
    throw new FormulaError(`"${token.kind}" where a number or a name belongs`);
  }
  function call(name) {
    const known = FUNCTIONS[name.toUpperCase()];
    if (!known) throw new FormulaError(`${name}() is not a function this page knows (${Object.keys(FUNCTIONS).join(", ")})`);
    const [count, fn] = known;
    expect("(");
    const args = [sum()];
    while (peek() === ",") {
      at += 1;
      args.push(sum());
    }
    expect(")");
    if (args.length !== count) throw new FormulaError(`${name.toUpperCase()}() takes ${count} argument${count > 1 ? "s" : ""}`);
    return (p) => fn(...args.map((a) => a(p)));
  }

  const formula = sum();
  if (at < list.length) throw new FormulaError(`unexpected "${list[at].kind === "name" ? list[at].value : list[at].kind}" ${where()}`);
  return formula;
}
