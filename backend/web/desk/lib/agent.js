// The workstation's terminal agent (its local API on 127.0.0.1): card reader, ID card
// scanner, receipt printer, and the device events on a WebSocket. docs/agent.md.
//
// The page proves itself to the agent with a per-session secret: after the operator's
// log-in, POST /v1/session (with the operator's session token) returns `agent_session`,
// sent on every later call as X-XNB-Agent-Session and on the events WebSocket as the
// subprotocol "xnb-session.<secret>" (docs/agent.md). The agent keeps its sessions in
// memory: after its restart the first refusal (agent_session_required) registers again.

import { Problem, readAnswer, session } from "./api.js";

const AGENT_DEFAULT = "http://127.0.0.1:17800";

function agentUrl() {
  // ?agent=http://127.0.0.1:17800 once (remembered); only a loopback address is accepted.
  const given = new URLSearchParams(location.search).get("agent");
  if (given) localStorage.setItem("xnb.agent", given);
  const url = given || localStorage.getItem("xnb.agent") || AGENT_DEFAULT;
  try {
    const parsed = new URL(url);
    if (["127.0.0.1", "localhost", "[::1]"].includes(parsed.hostname) && parsed.protocol === "http:") {
      return parsed.origin;
    }
  } catch (_) { /* fall through */ }
  return AGENT_DEFAULT;
}

export const AGENT = agentUrl();

let agentSession = null; // the secret of this page's session at the agent

function agentHeaders({ withLogin, key, json }) {
  const headers = { Accept: "application/json" };
  if (agentSession) headers["X-XNB-Agent-Session"] = agentSession;
  if (withLogin && session.token) headers.Authorization = `Bearer ${session.token}`;
  if (json) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  return headers;
}

/** Call the agent. `withLogin` passes the operator's session (the agent acts for them). */
export async function agent(path, options = {}) {
  try {
    return await call(path, options);
  } catch (error) {
    if (error instanceof Problem && error.code === "agent_session_required" && path !== "/v1/session" && session.token) {
      await registerSession();
      return call(path, options);
    }
    throw error;
  }
}

async function call(path, { method = "POST", body, withLogin = false, key } = {}) {
  let response;
  try {
    response = await fetch(AGENT + path, {
      method,
      headers: agentHeaders({ withLogin, key, json: body !== undefined }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Problem(
      { code: "agent_unreachable", title: "无法连接本机终端代理", detail: "请确认本机终端代理程序已启动" },
      0, "agent",
    );
  }
  return readAnswer(response, "agent");
}

/** Tell the agent whose session this is (its offline queue resumes under it). */
export async function registerSession() {
  agentSession = null;
  const answer = await call("/v1/session", { withLogin: true });
  agentSession = answer.agent_session;
  return answer;
}

/** At log-out: the agent forgets this page's session secret. */
export function endSession() {
  if (agentSession) call("/v1/session", { method: "DELETE" }).catch(() => { /* gone already */ });
  agentSession = null;
}

export function deviceStatus() { return agent("/v1/status", { method: "GET" }); }

/** Read the social security card and have it authenticated online: the holder's ID number. */
export async function readCard() {
  const read = await agent("/v1/card/read", { withLogin: true });
  const authenticated = await agent("/v1/card/authenticate", { withLogin: true });
  return { read, authenticated };
}

export function readIdCard() { return agent("/v1/idcard/read"); }

/**
 * Print the receipt of a business fact (`factId`: the collection, certification, card
 * event…) on the workstation printer; the agent has the backend sign it. `key` is the
 * print's own Idempotency-Key: a retry under it returns the first receipt, prints nothing.
 */
export function printReceipt({ receipt, factId, key }) {
  return agent("/v1/print/receipt", {
    withLogin: true,
    key,
    body: {
      receipt, fact_id: factId,
      counter: { office: session.me.office_name, operator: session.me.full_name },
    },
  });
}

/** Live device events; `onEvent({type, ...})`. Reconnects while the page is logged in. */
export function listen(onEvent) {
  let socket = null;
  let stopped = false;
  const open = () => {
    if (stopped) return;
    if (!agentSession) { setTimeout(open, 1000); return; }
    socket = new WebSocket(`${AGENT.replace(/^http/, "ws")}/v1/events`,
      ["xnb.events", `xnb-session.${agentSession}`]);
    socket.onmessage = (message) => {
      try { onEvent(JSON.parse(message.data)); } catch (_) { /* not an event */ }
    };
    socket.onclose = () => { if (!stopped) setTimeout(open, 3000); };
  };
  open();
  return () => { stopped = true; if (socket) socket.close(); };
}
