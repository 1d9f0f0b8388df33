// Shortens the names the wasm module and its wasm-bindgen glue share: the import module
// ("./lockstep_bg.js"), every import (`__wbg_<method>_<16 hex>`) and the exports only the
// glue reads (`wasm.<name>`). They are ~9 KB of the two files and, with their hashes,
// compress badly. Renames in both files at once, or fails and changes nothing.
//   node scripts/short-names.mjs <module.wasm> <glue.js>
// Dependency-free: a wasm file is sections of (id, LEB128 size, bytes); only the import (2)
// and export (7) sections are rewritten, every other byte is copied as it is.
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, gluePath] = process.argv.slice(2);
if (!wasmPath || !gluePath) {
  console.error("usage: node scripts/short-names.mjs <module.wasm> <glue.js>");
  process.exit(2);
}
const wasm = readFileSync(wasmPath);
let glue = readFileSync(gluePath, "utf8");
const fail = (msg) => {
  console.error(`short-names: ${msg}; files left unchanged`);
  process.exit(1);
};

// --- reading and writing the binary format -------------------------------------------------
const readU32 = (buf, at) => {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[at++];
    if (b === undefined) fail("truncated LEB128");
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, at];
  }
};
const u32 = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
};
const name = (s) => {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([u32(bytes.length), bytes]);
};
const readName = (buf, at) => {
  const [len, start] = readU32(buf, at);
  return [buf.toString("utf8", start, start + len), start + len];
};
// Skips one import's description (external kind and its type) and returns where it ends.
const skipImportDesc = (buf, at) => {
  const kind = buf[at++];
  const limits = (p) => {
    const flags = buf[p++];
    [, p] = readU32(buf, p);
    if (flags & 1) [, p] = readU32(buf, p);
    return p;
  };
  switch (kind) {
    case 0: return readU32(buf, at)[1]; // function: type index
    case 1: return limits(at + 1); // table: reftype, limits
    case 2: return limits(at); // memory: limits
    case 3: return at + 2; // global: valtype, mutability (valtypes here are one byte)
    case 4: return readU32(buf, at + 1)[1]; // tag: attribute, type index
    default: return fail(`unknown import kind ${kind}`);
  }
};

if (wasm.readUInt32LE(0) !== 0x6d736100) fail(`${wasmPath} is not a wasm module`);
const sections = [];
for (let at = 8; at < wasm.length;) {
  const id = wasm[at];
  const [size, start] = readU32(wasm, at + 1);
  sections.push({ id, start, end: start + size, raw: wasm.subarray(at, start + size) });
  at = start + size;
}

// --- short names -------------------------------------------------------------------------
const ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM = ALPHA + "0123456789";
const shortName = (i) => {
  let s = ALPHA[i % ALPHA.length];
  for (i = Math.floor(i / ALPHA.length); i > 0; i = Math.floor(i / ALNUM.length)) s += ALNUM[(i - 1) % ALNUM.length];
  return s;
};
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const count = (re) => (glue.match(re) || []).length;

// Imports: the module name appears once in the glue as a quoted key; each import name once
// as the key of its function.
const importSection = sections.find((s) => s.id === 2);
const exportSection = sections.find((s) => s.id === 7);
if (!importSection || !exportSection) fail("no import or export section");
const imports = [];
{
  let [n, at] = readU32(wasm, importSection.start);
  for (; n > 0; n--) {
    let module, field;
    [module, at] = readName(wasm, at);
    [field, at] = readName(wasm, at);
    const descStart = at;
    at = skipImportDesc(wasm, at);
    imports.push({ module, field, desc: wasm.subarray(descStart, at) });
  }
  if (at !== importSection.end) fail("import section did not parse to its end");
}
const modules = [...new Set(imports.map((i) => i.module))];
if (modules.length !== 1) fail(`expected one import module, found ${modules.join(", ")}`);
const oldModule = modules[0];
const newModule = "a";
const moduleKey = new RegExp(`(["'])${escape(oldModule)}\\1(?=\\s*:)`, "g");
if (count(moduleKey) !== 1) fail(`"${oldModule}" is not a key exactly once in the glue`);
glue = glue.replace(moduleKey, `"${newModule}"`);

let next = 0;
const renamed = new Map();
for (const imp of imports) {
  if (!renamed.has(imp.field)) {
    const re = new RegExp(`\\b${escape(imp.field)}\\b`, "g");
    // The one place: `<name>: function(` in the import object.
    if (count(re) !== 1 || count(new RegExp(`\\b${escape(imp.field)}\\s*:`, "g")) !== 1) fail(`import ${imp.field} is not a key exactly once in the glue`);
    const short = shortName(next++);
    renamed.set(imp.field, short);
    glue = glue.replace(re, short);
  }
  imp.field = renamed.get(imp.field);
}

// Exports: only wasm-bindgen's own (`__wbindgen_*`, `__externref_*`, closure shims), which
// the glue reads as `wasm.<name>` and nothing else sees; a glue function of the same name
// is a different binding and keeps its name. The public functions keep theirs.
const internal = /^(__|wasm_bindgen__)/;
const exports = [];
{
  let [n, at] = readU32(wasm, exportSection.start);
  for (; n > 0; n--) {
    let field;
    [field, at] = readName(wasm, at);
    const descStart = at;
    at = readU32(wasm, at + 1)[1]; // kind, index
    exports.push({ field, desc: wasm.subarray(descStart, at) });
  }
  if (at !== exportSection.end) fail("export section did not parse to its end");
}
const taken = new Set([...renamed.values()]);
for (const exp of exports) {
  if (!internal.test(exp.field)) continue;
  const viaWasm = new RegExp(`\\bwasm\\.${escape(exp.field)}\\b`, "g");
  if (count(viaWasm) === 0) continue;
  if (count(new RegExp(`["'\`]${escape(exp.field)}["'\`]`, "g")) !== 0) fail(`export ${exp.field} is named in a string in the glue`);
  let short;
  do short = shortName(next++); while (taken.has(short) || exports.some((e) => e.field === short));
  glue = glue.replace(viaWasm, `wasm.${short}`);
  exp.field = short;
}

// --- write both ---------------------------------------------------------------------------
const section = (id, body) => Buffer.concat([Buffer.from([id]), u32(body.length), body]);
const importBody = Buffer.concat([u32(imports.length), ...imports.map((i) => Buffer.concat([name(newModule), name(i.field), i.desc]))]);
const exportBody = Buffer.concat([u32(exports.length), ...exports.map((e) => Buffer.concat([name(e.field), e.desc]))]);
const out = Buffer.concat([
  wasm.subarray(0, 8),
  ...sections.map((s) => (s.id === 2 ? section(2, importBody) : s.id === 7 ? section(7, exportBody) : s.raw)),
]);
try {
  new WebAssembly.Module(out); // validates the rewritten module
} catch (e) {
  fail(`the rewritten module does not validate: ${e.message}`);
}
writeFileSync(wasmPath, out);
writeFileSync(gluePath, glue);
console.error(`short-names: ${renamed.size} imports and ${exports.filter((e) => e.field.length <= 3).length} exports renamed; wasm ${wasm.length} -> ${out.length} B`);
