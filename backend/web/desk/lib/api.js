// The backend's JSON API on this origin (/api/v1), with the operator's session token.
// Every state-changing call carries an Idempotency-Key; a retried submission reuses its key.

const API = "/api/v1";
const listeners = { expired: [] };

export const session = {
  token: sessionStorage.getItem("xnb.token"),
  me: null, // GET /auth/me: operator, role, office, permissions, scope
};

/** A problem document (application/problem+json) from the backend or the agent. */
export class Problem extends Error {
  constructor(body, status, source) {
    super(body.detail || body.title || `请求失败（${status}）`);
    this.status = status;
    this.code = body.code || "error";
    this.title = body.title || "操作失败";
    this.detail = body.detail || "";
    this.fields = Array.isArray(body.errors) ? body.errors : [];
    this.source = source; // "backend" | "agent" | "page"
    this.body = body;
  }
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function onExpired(callback) { listeners.expired.push(callback); }

export function setToken(token) {
  session.token = token;
  if (token) sessionStorage.setItem("xnb.token", token);
  else sessionStorage.removeItem("xnb.token");
}

export async function readAnswer(response, source) {
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : { detail: await response.text() };
  if (!response.ok) throw new Problem(body, response.status, source);
  return body;
}

/**
 * Call the backend. `key` (an Idempotency-Key) is required for every method but GET:
 * pass the key of the submission so that a retry acts once.
 */
export async function api(path, { method = "GET", body, key, query } = {}) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["Idempotency-Key"] = key || newKey();
  let url = API + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, value);
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Problem({ code: "backend_unreachable", title: "无法连接后台服务", detail: "请检查网络后重试" }, 0, "backend");
  }
  if (response.status === 401 && session.token && path !== "/auth/login") {
    for (const callback of listeners.expired) callback();
  }
  return readAnswer(response, "backend");
}

/** A 404 (of the given code, when given) as null: "this person has no pension". */
export async function optional(promise, code) {
  try { return await promise; } catch (error) {
    if (error instanceof Problem && error.status === 404 && (!code || error.code === code)) return null;
    throw error;
  }
}

export function can(permission) {
  return Boolean(session.me && session.me.permissions.includes(permission));
}

export function canAny(permissions) {
  return !permissions || permissions.length === 0 || permissions.some(can);
}
