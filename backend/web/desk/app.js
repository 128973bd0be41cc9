// The staff application's shell: log-in, the fixed header (operator, office, role once;
// devices), the navigation built from the operator's permissions, the resident workspace
// with its job tabs, hash routing, and the global keys (F2 card, F3 ID card).
//
// Routes: #/<screen>            a screen of the navigation
//         #/person/<id>[/<job>] the workspace on a resident, at one of its jobs

import { api, canAny, onExpired, session, setToken } from "./lib/api.js";
import * as devices from "./lib/agent.js";
import { loadCodes, codeName, regionPath } from "./lib/codes.js";
import { LABELS, yuan, maskAccount } from "./lib/format.js";
import { findByCard, findByIdCard } from "./lib/identify.js";
import { busy, clear, field, h, loading, messageBox, showProblem, values } from "./lib/ui.js";
import {
  currentEnrolment, forget, onChange, pendingChanges, reload, workspace, open,
} from "./lib/workspace.js";
import { GROUPS, JOBS, SCREENS } from "./modules.js";

const $ = (id) => document.getElementById(id);
let stopEvents = null;
let statusTimer = null;
let renderToken = 0;

// ---------- log-in ----------

function showLogin(message) {
  document.body.classList.remove("signed-in");
  const box = messageBox();
  const form = h("form", { class: "login-form", novalidate: true },
    h("h2", {}, "操作员登录"),
    box,
    field({ name: "username", label: "用户名", autocomplete: "username", autofocus: true }),
    field({ name: "password", label: "密码", kind: "password", autocomplete: "current-password" }),
    h("button", { type: "submit", class: "primary", id: "login-submit" }, "登录"));
  clear($("app"), h("section", { class: "panel login" }, form));
  if (message) box.info(message);
  form.username.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { username, password } = values(form);
    if (!username) { form.querySelector('[data-for="username"]').textContent = "请输入用户名"; form.username.focus(); return; }
    if (!password) { form.querySelector('[data-for="password"]').textContent = "请输入密码"; form.password.focus(); return; }
    await busy($("login-submit"), async () => {
      try {
        const answer = await api("/auth/login", { method: "POST", body: { username, password } });
        setToken(answer.access_token);
        await startSession();
      } catch (error) {
        form.password.value = "";
        showProblem(box, error, form);
        form.password.focus();
      }
    });
  });
}

async function startSession() {
  session.me = await api("/auth/me");
  await loadCodes();
  document.body.classList.add("signed-in");
  renderHeader();
  renderFrame();
  devices.registerSession().catch(() => { /* shown by the device dots */ }).finally(refreshDevices);
  statusTimer = setInterval(refreshDevices, 5000);
  stopEvents = devices.listen(onDeviceEvent);
  if (!location.hash || location.hash === "#/") location.hash = `#/${firstScreen().id}`;
  else route();
}

function logout(message) {
  if (session.token) {
    api("/auth/logout", { method: "POST" }).catch(() => {});
  }
  setToken(null);
  session.me = null;
  forget();
  if (stopEvents) stopEvents();
  devices.endSession();
  clearInterval(statusTimer);
  clear($("who"));
  clear($("nav"));
  showLogin(message);
}

onExpired(() => logout("登录已过期，请重新登录"));

// ---------- header and devices ----------

function renderHeader() {
  const { me } = session;
  clear($("who"),
    h("span", { id: "operator-name" }, me.full_name),
    h("span", { id: "operator-office", class: "muted" }, me.office_name),
    h("span", { id: "operator-role", class: "role" }, me.role_label),
    h("button", { type: "button", class: "link", id: "logout", onclick: () => logout() }, "退出登录"));
}

const DEVICE_NAMES = { card_reader: "读卡器", id_scanner: "身份证阅读器", printer: "打印机", backend: "后台" };

function setDevice(name, state, detail) {
  const item = document.querySelector(`#devices li[data-device="${name}"]`);
  if (!item) return;
  const good = ["ready", "no_card", "online"].includes(state);
  item.classList.toggle("ready", good);
  item.classList.toggle("bad", !good);
  item.querySelector("b").textContent = LABELS.device[state] || "异常";
  item.title = detail || "";
}

async function refreshDevices() {
  if (!session.me) return;
  try {
    const status = await devices.deviceStatus();
    for (const name of ["card_reader", "id_scanner", "printer"]) {
      const device = status.devices?.[name];
      setDevice(name, device?.state || "unavailable", device?.detail);
    }
    setDevice("backend", status.backend?.reachable ? "online" : "offline");
  } catch (_) {
    for (const name of Object.keys(DEVICE_NAMES)) setDevice(name, "unavailable", "本机终端代理未启动");
  }
}

function onDeviceEvent(event) {
  const text = LABELS.event[event.type];
  if (text) $("device-event").textContent = text;
  if (event.type?.startsWith("card.") || event.type?.startsWith("printer.")) refreshDevices();
}

// ---------- navigation and routing ----------

function visible(list) { return list.filter((m) => canAny(m.permissions)); }

function firstScreen() { return visible(SCREENS)[0] || { id: "none" }; }

function renderFrame() {
  clear($("app"),
    h("nav", { id: "nav", "aria-label": "业务导航" }),
    h("main", { id: "main" },
      h("section", { id: "resident", class: "resident", hidden: true, "aria-label": "当前参保人" }),
      h("section", { id: "view", class: "view", tabindex: "-1" })));
  renderNav();
}

function renderNav() {
  const nav = $("nav");
  if (!nav) return;
  const here = location.hash;
  const screens = visible(SCREENS);
  const groups = GROUPS.map(([id, title]) => [title, screens.filter((s) => (s.group || "counter") === id)])
    .filter(([, list]) => list.length);
  const person = workspace.person;
  clear(nav,
    groups.map(([title, list]) => h("div", { class: "nav-group" },
      h("p", { class: "nav-group-title" }, title),
      h("ul", { class: "nav-list" }, list.map((s) => h("li", {},
        h("a", { href: `#/${s.id}`, "aria-current": here === `#/${s.id}` ? "page" : null },
          s.title, s.key ? h("kbd", {}, s.key) : null)))))),
    person ? h("div", { class: "nav-current" },
      h("p", { class: "muted" }, "正在办理"),
      h("a", { href: `#/person/${person.id}`, id: "nav-current" }, person.name)) : null);
}

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (parts[0] === "person" && /^\d+$/.test(parts[1] || "")) {
    return { personId: Number(parts[1]), job: parts[2] || null };
  }
  return { screen: parts[0] || firstScreen().id, rest: parts.slice(1) };
}

export function go(route) { location.hash = route; }

function context(box) {
  return {
    me: session.me,
    get person() { return workspace.person; },
    get pension() { return workspace.pension; },
    get statement() { return workspace.statement; },
    get checks() { return workspace.checks; },
    box,
    reload,
    go,
  };
}

async function route() {
  if (!session.me) return;
  const token = ++renderToken;
  const target = parseRoute();
  const view = $("view");
  const box = messageBox();
  renderNav();
  if (target.personId) {
    if (workspace.person?.id !== target.personId) {
      clear(view, loading("正在打开参保人…"));
      try { await open(target.personId); } catch (error) {
        if (token !== renderToken) return;
        $("resident").hidden = true;
        clear(view, box);
        box.error(error);
        return;
      }
    }
    if (token !== renderToken) return;
    const jobs = visible(JOBS);
    const job = jobs.find((j) => j.id === target.job) || jobs[0];
    renderResident(job);
    clear(view, box);
    const blocked = job.available ? job.available(context(box)) : null;
    if (blocked) { box.info(blocked); return; }
    await job.render(view, context(box));
    return;
  }
  $("resident").hidden = true;
  const screen = visible(SCREENS).find((s) => s.id === target.screen);
  clear(view, box);
  if (!screen) { box.info("没有可办理的业务：您的角色没有柜面业务权限。"); return; }
  await screen.render(view, { ...context(box), rest: target.rest });
}

// ---------- the resident workspace ----------

function renderResident(activeJob) {
  const section = $("resident");
  const { person, pension, statement } = workspace;
  if (!person) { section.hidden = true; return; }
  section.hidden = false;
  const enrolment = currentEnrolment(person);
  const pending = pendingChanges(person);
  const region = h("span", { id: "p-region" }, "…");
  regionPath(person.hukou_region_code).then((text) => { region.textContent = text; });
  const household = person.household
    ? `${person.household.household_number}（${codeName("relationship", person.relationship_code)}）`
    : "未登记户籍家庭";
  let enrolText = "未参保";
  if (enrolment) enrolText = `${codeName("enrolment_status", enrolment.status)}（${enrolment.enrolled_on} 参保）`;
  let pensionText = null;
  if (pension) {
    pensionText = `${LABELS.pension[pension.status] || "其他"}，月 ${yuan(pension.monthly_fen)} 元`;
  }
  const jobs = visible(JOBS);
  clear(section,
    h("div", { class: "resident-head" },
      h("h2", { id: "p-name" }, person.name),
      h("span", { id: "p-id", class: "idno" }, person.id_number),
      h("span", {}, `${codeName("gender", person.gender)} · ${codeName("ethnicity", person.ethnicity)} · ${person.birth_date} 生`),
      h("span", { class: "checks" },
        h("span", { id: "check-card", class: workspace.checks.card ? "ok" : "" }, workspace.checks.card ? "✓ 社保卡已认证" : "社保卡未刷"),
        h("span", { id: "check-idcard", class: workspace.checks.idCard ? "ok" : "" }, workspace.checks.idCard ? "✓ 身份证已读" : "身份证未读")),
      h("button", { type: "button", class: "link close", onclick: () => { forget(); go(`#/${firstScreen().id}`); } }, "结束办理")),
    h("dl", { class: "facts resident-facts" },
      h("dt", {}, "户籍地"), h("dd", {}, region),
      h("dt", {}, "住址"), h("dd", { id: "p-address" }, person.address || "未登记"),
      h("dt", {}, "联系电话"), h("dd", { id: "p-phone" }, person.phone || "未登记"),
      h("dt", {}, "户号"), h("dd", { id: "p-household" }, household),
      h("dt", {}, "参保状态"), h("dd", { id: "p-enrolment" }, enrolText),
      h("dt", {}, "个人账户"), h("dd", { id: "p-balance" }, statement ? `${yuan(statement.closing_fen)} 元` : "无个人账户"),
      pensionText ? [h("dt", {}, "养老金"), h("dd", { id: "p-pension" }, pensionText)] : null,
      pension ? [h("dt", {}, "发放账户"), h("dd", {}, `${codeName("bank", pension.bank_code)} ${maskAccount(pension.bank_account)}`)] : null),
    pending.length ? h("p", { class: "pending", id: "p-pending" },
      "待复核的变更：",
      pending.map((c) => `${LABELS.changeField[c.field] || "其他"} ${c.old_value ?? "—"} → ${c.new_value ?? "—"}`).join("；"),
      "（复核通过前不生效）") : null,
    h("ul", { class: "tabs", role: "tablist" }, jobs.map((j, index) => h("li", {},
      h("a", {
        href: `#/person/${person.id}/${j.id}`, role: "tab", id: `tab-${j.id}`,
        "aria-selected": j === activeJob ? "true" : "false",
        title: index < 9 ? `Alt+${index + 1}` : null,
      }, j.title)))));
}

onChange(() => {
  renderNav();
  const target = parseRoute();
  if (target.personId && workspace.person) {
    const jobs = visible(JOBS);
    renderResident(jobs.find((j) => j.id === target.job) || jobs[0]);
  }
});

// ---------- keys ----------

async function withScreenBox(work) {
  // Device reads from anywhere: the result opens the workspace; errors show on the view.
  const view = $("view");
  let box = view.querySelector(":scope > .message");
  if (!box) { box = messageBox(); view.prepend(box); }
  box.info("正在读卡…");
  try { await work(box); } catch (error) { box.error(error); }
}

export async function readCardKey() {
  await withScreenBox(async (box) => {
    const { opened } = await findByCard();
    box.hide();
    go(`#/person/${opened.person.id}`);
  });
}

export async function readIdCardKey() {
  await withScreenBox(async (box) => {
    const { card, person } = await findByIdCard();
    if (person) { box.hide(); go(`#/person/${person.id}`); return; }
    if (canAny(["person:write"])) {
      box.hide();
      if (location.hash === "#/enrol") {
        $("view").dispatchEvent(new CustomEvent("desk:idcard", { detail: card }));
      } else {
        sessionStorage.setItem("xnb.idcard", JSON.stringify(card));
        go("#/enrol");
      }
    } else {
      box.warn(`没有 ${card.name} 的参保登记，或此人不在本辖区`);
    }
  });
}

function onKey(event) {
  if (!session.me) return;
  if (event.key === "F2" && canAny(["card:authenticate"])) { event.preventDefault(); readCardKey(); return; }
  if (event.key === "F3" && canAny(["person:read"])) { event.preventDefault(); readIdCardKey(); return; }
  if (event.altKey && /^[1-9]$/.test(event.key) && workspace.person) {
    const job = visible(JOBS)[Number(event.key) - 1];
    if (job) { event.preventDefault(); go(`#/person/${workspace.person.id}/${job.id}`); }
    return;
  }
  for (const m of [...visible(SCREENS), ...(workspace.person ? visible(JOBS) : [])]) {
    if (m.key && event.key === m.key) {
      event.preventDefault();
      go(SCREENS.includes(m) ? `#/${m.id}` : `#/person/${workspace.person.id}/${m.id}`);
      return;
    }
  }
}

// ---------- boot ----------

async function boot() {
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", onKey);
  if (session.token) {
    try { await startSession(); return; } catch (_) { setToken(null); }
  }
  showLogin();
}

boot();
