// The counter page: business through the backend (/api/v1 on this origin), devices through
// the workstation's terminal agent (its local API on 127.0.0.1). Plain modern JS, no build.
//
// Every state-changing request carries an Idempotency-Key made here; a retried attempt
// reuses its key, so the backend (and the agent's printer) act once.

const AGENT_DEFAULT = "http://127.0.0.1:17800";
const API = "/api/v1";

const LABELS = {
  gender: { 1: "男", 2: "女" },
  enrolment: {
    paying: "参保缴费", receiving: "领取待遇", suspended: "暂停", terminated: "终止",
  },
  pension: { receiving: "正常领取", suspended: "暂停发放", terminated: "终止发放" },
  device: {
    ready: "就绪", no_reader: "未连接", no_card: "就绪", service_not_running: "服务未运行",
    unavailable: "不可用", paper_out: "缺纸", disconnected: "未连接",
  },
  event: {
    "card.inserted": "社保卡已插入", "card.removed": "社保卡已拔出",
    "idcard.present": "身份证已放置", "idcard.read": "身份证已读取",
    "printer.paper_out": "打印机缺纸", "printer.paper_back": "打印纸已装好",
    "printer.printed": "回执已打印", "outbox.replayed": "离线业务已补传",
  },
  overpaymentCause: { death: "死亡后多发", double_pension: "重复领取", recompute: "重新核定", other: "其他" },
};

// ---------- small helpers ----------

const $ = (id) => document.getElementById(id);

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

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function yuan(fen) {
  if (fen === null || fen === undefined) return "—";
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100).toLocaleString("zh-CN")}.${String(abs % 100).padStart(2, "0")}`;
}

function month(date) { return date ? date.slice(0, 7) : "—"; }

function maskId(id) { return id ? `${id.slice(0, 6)}********${id.slice(-4)}` : ""; }

// GB 11643: the check character of an ID number, checked before asking the backend.
function idNumberProblem(raw) {
  const value = raw.trim().toUpperCase();
  if (value.length !== 18) return `身份证号码应为18位，实际为${value.length}位`;
  if (!/^\d{17}[\dX]$/.test(value)) return "身份证号码前17位必须是数字，末位是数字或X";
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let total = 0;
  for (let i = 0; i < 17; i += 1) total += Number(value[i]) * weights[i];
  const expected = "10X98765432"[total % 11];
  if (value[17] !== expected) return `身份证号码校验位错误（应为${expected}）`;
  return null;
}

class Problem extends Error {
  constructor(body, status, source) {
    super(body.detail || body.title || `请求失败（${status}）`);
    this.status = status;
    this.code = body.code || "error";
    this.title = body.title || "操作失败";
    this.fields = Array.isArray(body.errors) ? body.errors : [];
    this.source = source;
  }
}

async function readAnswer(response, source) {
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : { detail: await response.text() };
  if (!response.ok) throw new Problem(body, response.status, source);
  return body;
}

// ---------- state ----------

const state = {
  token: sessionStorage.getItem("xnb.token"),
  me: null,
  agent: agentUrl(),
  agentSession: null, // the agent's secret for this log-in (POST /v1/session), memory only
  person: null,
  pension: null,
  cardHolderId: null, // ID number of the holder of the card authenticated online
  idCardNumber: null, // ID number read from the ID card on the scanner
  idCardName: null,
  certifyKey: null, // one key per certification attempt, reused when it is retried
  printKey: null,
  lastCertification: null,
};

async function api(path, { method = "GET", body, changes = false, key } = {}) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (changes) headers["Idempotency-Key"] = key || newKey();
  let response;
  try {
    response = await fetch(API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Problem({ code: "backend_unreachable", detail: "无法连接后台服务，请检查网络" }, 0, "backend");
  }
  if (response.status === 401 && state.token) {
    logout("登录已过期，请重新登录");
  }
  return readAnswer(response, "backend");
}

// Every agent call carries the session secret the agent gave at POST /v1/session (headers
// such as Origin prove nothing to it: docs/agent.md, "Who may call"). An agent restarted
// since forgets it and answers 401 agent_session_required: register again, retry once.
async function agent(path, { method = "POST", body, withLogin = false, key, retried = false } = {}) {
  const headers = { Accept: "application/json" };
  if (withLogin && state.token) headers.Authorization = `Bearer ${state.token}`;
  if (state.agentSession) headers["X-XNB-Agent-Session"] = state.agentSession;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  let response;
  try {
    response = await fetch(state.agent + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Problem(
      { code: "agent_unreachable", detail: `无法连接本机终端代理（${state.agent}），请确认终端代理已启动` },
      0, "agent",
    );
  }
  if (response.status === 401 && !retried && state.token && path !== "/v1/session") {
    const refusal = await response.clone().json().catch(() => ({}));
    if (refusal.code === "agent_session_required") {
      await openAgentSession();
      return agent(path, { method, body, withLogin, key, retried: true });
    }
  }
  return readAnswer(response, "agent");
}

async function openAgentSession() {
  // The agent asks the backend whose session this is and answers with a secret of its own.
  const opened = await agent("/v1/session", { withLogin: true });
  state.agentSession = opened.agent_session;
  return opened;
}

// ---------- messages ----------

function clearFieldErrors(form) {
  form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

function showFieldError(form, field, message) {
  const name = field.split(".").pop();
  const slot = form.querySelector(`.field-error[data-for="${name}"]`);
  const input = form.querySelector(`[name="${name}"]`);
  if (slot) slot.textContent = message;
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  return Boolean(slot);
}

function notify(message, { kind = "error", fields = [] } = {}) {
  const box = $("notice");
  box.className = kind === "info" ? "notice info" : "notice";
  box.replaceChildren(document.createTextNode(message));
  if (fields.length) {
    const list = document.createElement("ul");
    for (const f of fields) {
      const item = document.createElement("li");
      item.textContent = f.field ? `${f.field}：${f.message}` : f.message;
      list.append(item);
    }
    box.append(list);
  }
  box.hidden = false;
}

function clearNotice() { $("notice").hidden = true; }

function showProblem(error, form) {
  if (!(error instanceof Problem)) {
    notify(`页面出错：${error.message}`);
    return;
  }
  let placed = false;
  if (form) {
    clearFieldErrors(form);
    for (const f of error.fields) placed = showFieldError(form, f.field || "", f.message) || placed;
  }
  const where = error.source === "agent" ? "终端设备" : "后台";
  const fields = placed ? [] : error.fields;
  notify(`${error.title}：${error.message}（${where}，${error.code}）`, { fields });
}

async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try { return await work(); } finally {
    button.removeAttribute("aria-busy");
    button.disabled = false;
    refreshCertifyButton();
  }
}

// ---------- log-in ----------

async function login(event) {
  event.preventDefault();
  const form = $("login-form");
  clearFieldErrors(form);
  clearNotice();
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username) { showFieldError(form, "username", "请输入用户名"); return; }
  if (!password) { showFieldError(form, "password", "请输入密码"); return; }
  await busy($("login-submit"), async () => {
    try {
      const answer = await api("/auth/login", { method: "POST", body: { username, password } });
      state.token = answer.access_token;
      sessionStorage.setItem("xnb.token", state.token);
      $("password").value = "";
      await startSession();
    } catch (error) {
      $("password").value = "";
      showProblem(error, form);
      $("password").focus();
    }
  });
}

async function startSession() {
  state.me = await api("/auth/me");
  $("operator-name").textContent = `${state.me.full_name}（${state.me.role_label}）`;
  $("operator-office").textContent = state.me.office_name;
  $("who").hidden = false;
  $("login-view").hidden = true;
  $("work-view").hidden = false;
  $("swipe-card").focus();
  try {
    // The agent learns whose session this is (its offline queue resumes under it).
    await openAgentSession();
  } catch (error) {
    showProblem(error);
  }
  refreshStatus();
  connectEvents();
}

function logout(message) {
  if (state.token) {
    fetch(`${API}/auth/logout`, {
      method: "POST", headers: { Authorization: `Bearer ${state.token}`, "Idempotency-Key": newKey() },
    }).catch(() => {});
  }
  if (state.agentSession) {
    fetch(`${state.agent}/v1/session`, {
      method: "DELETE", headers: { "X-XNB-Agent-Session": state.agentSession },
    }).catch(() => {});
  }
  state.agentSession = null;
  if (socket) socket.close();
  state.token = null;
  state.me = null;
  sessionStorage.removeItem("xnb.token");
  resetPerson();
  $("who").hidden = true;
  $("work-view").hidden = true;
  $("login-view").hidden = false;
  $("username").focus();
  if (message) notify(message, { kind: "info" }); else clearNotice();
}

// ---------- devices ----------

function setDevice(name, deviceState, detail) {
  const item = document.querySelector(`#devices li[data-device="${name}"]`);
  if (!item) return;
  const good = ["ready", "no_card", "online"].includes(deviceState);
  item.classList.toggle("ready", good);
  item.classList.toggle("bad", !good);
  item.querySelector("b").textContent = LABELS.device[deviceState] || (deviceState === "online" ? "在线" : deviceState === "offline" ? "无法连接" : deviceState);
  item.title = detail || "";
}

async function refreshStatus() {
  if (!state.token) return;
  try {
    const status = await agent("/v1/status", { method: "GET" });
    for (const [name, device] of Object.entries(status.devices)) setDevice(name, device.state, device.detail);
    const reachable = status.backend.reachable;
    setDevice("backend", reachable === false ? "offline" : reachable ? "online" : "unknown");
  } catch (error) {
    for (const name of ["card_reader", "id_scanner", "printer"]) setDevice(name, "unavailable", error.message);
  }
}

let socket = null;

function connectEvents() {
  if (socket && socket.readyState <= 1) return;
  // Browsers set no headers on a WebSocket: the secret goes as a subprotocol, not in the URL.
  socket = new WebSocket(`${state.agent.replace(/^http/, "ws")}/v1/events`, [
    "xnb.events", `xnb-session.${state.agentSession}`,
  ]);
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "hello") {
      for (const [name, device] of Object.entries(event.devices)) setDevice(name, device.state, device.detail);
      return;
    }
    if (event.type === "device.state") setDevice(event.device, event.state, event.detail);
    const label = LABELS.event[event.type];
    if (label) addEvent(label + (event.type === "card.inserted" ? "，按 F2 读卡" : ""), event.type);
  });
  socket.addEventListener("close", () => {
    if (state.token) setTimeout(connectEvents, 2000);
  });
}

function addEvent(text, type) {
  const item = document.createElement("li");
  const time = new Date().toLocaleTimeString("zh-CN", { hour12: false });
  item.textContent = `${time} ${text}`;
  item.dataset.type = type;
  const list = $("events");
  list.prepend(item);
  while (list.children.length > 30) list.lastElementChild.remove();
}

// ---------- finding a resident ----------

function markCheck(id, ok, detail) {
  const item = $(id);
  item.classList.toggle("ok", ok);
  item.querySelector(".mark").textContent = ok ? "✓" : "—";
  item.querySelector(".detail").textContent = detail || "";
}

async function swipeCard() {
  clearNotice();
  await busy($("swipe-card"), async () => {
    try {
      const card = await agent("/v1/card/read", { withLogin: true });
      const auth = await agent("/v1/card/authenticate", { withLogin: true });
      if (!auth.holder) {
        notify("此卡持卡人不在本经办机构辖区内，不能办理");
        return;
      }
      const warning = auth.card_state_checked ? "" : "（未核对卡片状态）";
      state.cardHolderId = auth.holder.id_number;
      markCheck("check-card", true, `卡号 ${card.basic.card_number}${warning}`);
      if (state.person?.id !== auth.holder.id) await loadPerson(auth.holder.id);
      if (auth.warning) notify(auth.warning, { kind: "info" });
      refreshCertifyButton();
    } catch (error) {
      state.cardHolderId = null;
      markCheck("check-card", false, "");
      showProblem(error);
    }
  });
}

async function readIdCard() {
  clearNotice();
  await busy($("read-idcard"), async () => {
    try {
      const card = await agent("/v1/idcard/read");
      state.idCardNumber = card.id_number;
      state.idCardName = card.name;
      markCheck("check-idcard", true, `${card.name} ${maskId(card.id_number)}`);
      if (state.person?.id_number !== card.id_number) await findByIdNumber(card.id_number);
      refreshCertifyButton();
    } catch (error) {
      state.idCardNumber = null;
      markCheck("check-idcard", false, "");
      showProblem(error);
    }
  });
}

async function search(event) {
  event.preventDefault();
  const form = $("search-form");
  clearFieldErrors(form);
  clearNotice();
  const value = $("id-number").value.trim().toUpperCase();
  const problem = idNumberProblem(value);
  if (problem) { showFieldError(form, "id_number", problem); return; }
  await busy($("search-submit"), async () => {
    try {
      await findByIdNumber(value);
    } catch (error) {
      showProblem(error, form);
    }
  });
}

async function findByIdNumber(idNumber) {
  const page = await api("/persons/search", { method: "POST", body: { id_number: idNumber, limit: 1 } });
  if (!page.items.length) {
    resetPerson();
    notify(`没有找到身份证号码为 ${maskId(idNumber)} 的参保人（或不在本辖区）`);
    return;
  }
  await loadPerson(page.items[0].id);
}

function resetPerson() {
  state.person = null;
  state.pension = null;
  state.certifyKey = null;
  $("person-detail").hidden = true;
  $("person-empty").hidden = false;
  $("certify-result").hidden = true;
  $("reprint").hidden = true;
  refreshCertifyButton();
}

async function optional(promise, code) {
  try { return await promise; } catch (error) {
    if (error instanceof Problem && error.status === 404 && (!code || error.code === code)) return null;
    throw error;
  }
}

async function loadPerson(personId) {
  const year = new Date().getFullYear();
  const [person, statement, pension, overpayments] = await Promise.all([
    api(`/persons/${personId}`),
    optional(api(`/persons/${personId}/statement?year=${year}`)),
    optional(api(`/benefits/pensions/${personId}`), "pension_not_found"),
    api(`/benefits/overpayments?person_id=${personId}&status=open`),
  ]);
  const versions = new Map();
  for (const id of new Set((pension?.computations || []).map((c) => c.policy_version_id))) {
    versions.set(id, await optional(api(`/policy/versions/${id}`)));
  }
  if (state.person?.id !== person.id) {
    // Another resident: checks made for the previous one do not carry over.
    if (state.cardHolderId !== person.id_number) markCheck("check-card", false, "");
    if (state.idCardNumber !== person.id_number) markCheck("check-idcard", false, "");
    state.certifyKey = null;
    $("certify-result").hidden = true;
    $("reprint").hidden = true;
  }
  state.person = person;
  state.pension = pension;
  clearFieldErrors($("search-form"));
  renderPerson(person, statement, pension, overpayments, versions);
  refreshCertifyButton();
}

function cell(row, text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  row.append(td);
  return td;
}

function renderPerson(person, statement, pension, overpayments, versions) {
  $("person-empty").hidden = true;
  $("person-detail").hidden = false;
  $("p-name").textContent = person.name;
  $("p-id").textContent = person.id_number;
  $("p-gender").textContent = LABELS.gender[person.gender] || person.gender;
  $("p-birth").textContent = person.birth_date;
  $("p-region").textContent = person.hukou_region_code;
  const current = (person.enrolments || []).find((e) => !e.ended_on) || person.enrolments?.[0];
  $("p-enrolment").textContent = current
    ? `${LABELS.enrolment[current.status] || current.status}（${current.enrolled_on} 参保）`
    : "未参保";
  $("p-balance").textContent = statement
    ? `${yuan(statement.closing_fen)} 元（${statement.year} 年对账单）`
    : "无个人账户";

  $("pension").hidden = !pension;
  $("pension-none").hidden = Boolean(pension);
  if (!pension) {
    $("pension-none").textContent = "此人未领取养老金待遇，无需资格认证。";
    return;
  }
  const status = $("pen-status");
  status.textContent = LABELS.pension[pension.status] || pension.status;
  if (pension.status_reason) status.textContent += `（${pension.status_reason}）`;
  status.className = `status-${pension.status}`;
  $("pen-monthly").textContent = `${yuan(pension.monthly_fen)} 元`;
  const due = $("pen-due");
  due.textContent = pension.certified_until || "—";
  const today = new Date().toISOString().slice(0, 10);
  due.classList.toggle("overdue", Boolean(pension.certified_until) && pension.certified_until < today);
  if (due.classList.contains("overdue")) due.textContent += "（已逾期，请办理认证）";
  $("pen-bank").textContent = `${pension.bank_code} ${pension.bank_account.replace(/^(\d{4})\d+(\d{4})$/, "$1 **** $2")}`;
  const body = $("pen-parts").querySelector("tbody");
  body.replaceChildren();
  for (const c of pension.computations) {
    const row = document.createElement("tr");
    cell(row, `${month(c.from_month)}${c.cause === "award" ? "（核定）" : "（调整）"}`);
    cell(row, yuan(c.minimum_fen), "money");
    cell(row, yuan(c.topup_fen), "money");
    const bonus = cell(row, yuan(c.bonus_fen), "money");
    const years = document.createElement("span");
    years.className = "formula";
    years.textContent = `缴费 ${c.contribution_years} 年`;
    bonus.append(years);
    const account = cell(row, yuan(c.account_fen), "money");
    const formula = document.createElement("span");
    formula.className = "formula";
    formula.textContent = `${yuan(c.balance_fen)} ÷ ${c.divisor}`;
    account.append(formula);
    cell(row, yuan(c.total_fen), "money");
    const version = versions.get(c.policy_version_id);
    cell(row, version ? `#${version.id} ${version.name}（${version.valid_from} 起）` : `#${c.policy_version_id}`);
    row.dataset.part = "computation";
    body.append(row);
  }
  const list = $("overpayments");
  list.replaceChildren();
  if (!overpayments.length) {
    const item = document.createElement("li");
    item.className = "muted";
    item.textContent = "无";
    list.append(item);
  }
  for (const o of overpayments) {
    const item = document.createElement("li");
    const cause = LABELS.overpaymentCause[o.cause] || o.cause;
    item.textContent = `${cause}：应追回 ${yuan(o.amount_fen)} 元，已追回 ${yuan(o.recovered_fen)} 元（${o.reason}）`;
    list.append(item);
  }
}

// ---------- certification ----------

function certifyBlocker() {
  const { person, pension } = state;
  if (!person) return "请先查找参保人";
  if (!pension) return "此人没有养老金待遇";
  if (pension.status === "terminated") return "待遇已终止，不能认证";
  if (state.lastCertification?.pension_id === pension.id && !state.certifyKey) {
    return "本次已办理资格认证";
  }
  if (state.cardHolderId !== person.id_number) return "请刷此人的社保卡（在线认证）";
  if (state.idCardNumber !== person.id_number) return "请读此人的居民身份证";
  return null;
}

function refreshCertifyButton() {
  const blocker = certifyBlocker();
  const button = $("certify");
  if (button.getAttribute("aria-busy") !== "true") button.disabled = Boolean(blocker);
  $("certify-hint").textContent = blocker || "社保卡与身份证均已核验，可以办理柜面资格认证。";
}

async function certify() {
  if (certifyBlocker()) return;
  clearNotice();
  const { person } = state;
  state.certifyKey = state.certifyKey || newKey();
  await busy($("certify"), async () => {
    try {
      const certification = await api(`/benefits/pensions/${person.id}/certifications`, {
        // F8 is open only after this visit authenticated the card and read the ID card.
        method: "POST",
        body: { method: "counter", documents_seen: ["social_security_card", "id_card"] },
        changes: true, key: state.certifyKey,
      });
      state.lastCertification = certification;
      state.printKey = newKey();
      showCertified(certification, null);
      await loadPerson(person.id);
      await printReceipt();
    } catch (error) {
      showProblem(error);
    }
  });
}

// survival_rules.Document in the backend.
const DOCUMENT_LABELS = {
  social_security_card: "社会保障卡",
  id_card: "居民身份证",
  temporary_id_card: "临时居民身份证",
  household_register: "户口簿",
};

function showCertified(certification, printed) {
  const box = $("certify-result");
  const resumed = certification.resumed ? "，暂停的待遇已恢复发放（补发随下次发放）" : "";
  const seen = certification.documents_seen.map((d) => DOCUMENT_LABELS[d] || d).join("、");
  let text = `资格认证成功（${certification.certified_on}，柜面认证，核验证件：${seen}）${resumed}。下次认证截止日期：${certification.next_due}。`;
  if (printed) text += ` 回执 ${printed.receipt_number} 已打印。`;
  box.textContent = text;
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

async function printReceipt() {
  const certification = state.lastCertification;
  const person = state.person;
  if (!certification || !person) return;
  $("reprint").hidden = true;
  try {
    const printed = await agent("/v1/print/receipt", {
      withLogin: true,
      key: state.printKey,
      body: {
        receipt: {
          layout: "survival",
          name: person.name,
          id_number: person.id_number,
          method: "柜面认证",
          valid_until: certification.next_due,
        },
        counter: { office: state.me.office_name, operator: state.me.full_name },
        // The backend signs the receipt of this certification (docs/api.md, receipts).
        fact_id: certification.id,
      },
    });
    showCertified(certification, printed);
    state.certifyKey = null;
  } catch (error) {
    showProblem(error);
    $("reprint").hidden = false;
  }
}

// ---------- wiring ----------

function wire() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout());
  $("swipe-card").addEventListener("click", swipeCard);
  $("read-idcard").addEventListener("click", readIdCard);
  $("search-form").addEventListener("submit", search);
  $("certify").addEventListener("click", certify);
  $("reprint").addEventListener("click", () => busy($("reprint"), printReceipt));
  document.addEventListener("keydown", (event) => {
    if (!state.token) return;
    const keys = { F2: "swipe-card", F3: "read-idcard", F8: "certify" };
    const target = keys[event.key];
    if (target) {
      event.preventDefault();
      const button = $(target);
      if (!button.disabled) button.click();
    }
  });
  setInterval(refreshStatus, 5000);
}

async function boot() {
  wire();
  if (state.token) {
    try {
      await startSession();
      return;
    } catch (error) {
      logout();
      return;
    }
  }
  $("username").focus();
}

boot();
