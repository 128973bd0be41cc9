// Code tables the desk shows by name: loaded once per log-in from the backend, which owns
// them (GET /api/v1/registry/codes), and region names from the administrative tree
// (GET /api/v1/orgs/regions?parent=), cached for the session.

import { api } from "./api.js";

let tables = null;
const regions = new Map(); // code → {code, name, level, parent_code}
const children = new Map(); // parent code → Promise<[region]>

export async function loadCodes() {
  tables = await api("/registry/codes");
  return tables;
}

const UNKNOWN = { bank: "未登记的银行" };

/** The name of a code in a table ("ethnicity", "relationship", "gender", "enrolment_status", "bank"). */
export function codeName(table, code) {
  if (code === null || code === undefined || code === "") return "—";
  const names = tables?.[table] || {};
  return names[code] || UNKNOWN[table] || "其他";
}

/** [[code, name], …] of a table, for a select. */
export function codeOptions(table) {
  // Sorted by code: a JS object puts integer-like keys ("10") before "01".
  return Object.entries(tables?.[table] || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The regions under `parent` (a 12-digit code), or the root of the scope when absent. */
export function regionChildren(parent) {
  const key = parent || "";
  if (!children.has(key)) {
    const load = api("/orgs/regions", { query: { parent } }).then((list) => {
      for (const r of list) regions.set(r.code, r);
      return list;
    });
    load.catch(() => children.delete(key));
    children.set(key, load);
  }
  return children.get(key);
}

function parentOf(code) {
  // province 2, city 4, county 6, township 9, village 12 digits.
  const significant = [2, 4, 6, 9, 12];
  const trimmed = code.replace(/0+$/, "");
  const level = significant.findIndex((n) => trimmed.length <= n);
  if (level <= 0) return null;
  return code.slice(0, significant[level - 1]).padEnd(12, "0");
}

/** "和布克赛尔镇 那仁和布克村": the township and village names of a code (county with townships). */
export async function regionPath(code, depth = 2) {
  if (!code) return "—";
  const chain = [];
  let current = code;
  while (current && chain.length < depth) {
    const parent = parentOf(current);
    if (!parent) break;
    if (!regions.has(current)) {
      try { await regionChildren(parent); } catch (_) { break; }
    }
    const region = regions.get(current);
    if (!region) break;
    chain.unshift(region.name);
    current = parent;
  }
  return chain.length ? chain.join(" ") : "辖区外地区";
}
