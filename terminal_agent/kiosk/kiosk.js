// The kiosk page, served by the terminal agent at /kiosk/ and calling only it (same origin).
// Card in → the agent authenticates it online as this kiosk → ID card on the scanner →
// the resident faces the camera (the agent compares the face with the ID card photo) →
// the backend certifies the holder (card, ID card and face must agree) and the agent
// prints the receipt. Plain modern JS, no build step; nothing to type.

const STEP_IDS = ["step-card", "step-id", "step-face", "step-done"];
const RESET_AFTER_MS = 20000; // back to the start when a visit is left unfinished
const POLL_MS = 1500;

const MESSAGES = {
  no_card: ["请插入社保卡", "芯片朝上插入读卡口。"],
  card_removed: ["社保卡已拔出", "请重新插入社保卡，办理完成前请勿拔卡。"],
  unsupported_card: ["无法识别此卡", "请插入本省社会保障卡。"],
  card_unknown: ["无法识别此卡", "此卡不是本省签发的社保卡，请到柜台咨询。"],
  card_not_genuine: ["卡片核验未通过", "请到柜台由工作人员办理。"],
  card_lost: ["此卡已挂失", "请到柜台办理解挂或补卡。"],
  card_cancelled: ["此卡已注销", "请到柜台咨询。"],
  card_replaced: ["此卡已补换作废", "请使用新卡，或到柜台咨询。"],
  card_expired: ["此卡已过有效期", "请到柜台办理换卡。"],
  card_not_active: ["此卡尚未启用", "请到柜台办理启用。"],
  holder_dead: ["不能办理", "请到柜台咨询。"],
  holder_unknown: ["未查到参保信息", "请到柜台咨询。"],
  pension_not_found: ["您没有领取养老金待遇", "无需进行资格认证。"],
  pension_terminated: ["待遇已终止", "不能办理资格认证，请到柜台咨询。"],
  outside_region: ["请到户籍所在地办理", "本终端只为本辖区领取人员办理资格认证。"],
  id_mismatch: ["身份证与社保卡不是同一人", "请放置持卡人本人的居民身份证。"],
  challenge_used: ["核验已失效", "请拔出社保卡后重新插入。"],
  challenge_expired: ["核验已超时", "请拔出社保卡后重新插入。"],
  backend_unreachable: ["系统暂时无法连接", "请稍后再试，或到柜台办理。"],
  scanner_unavailable: ["身份证阅读器故障", "请到柜台办理。"],
  no_reader: ["读卡器故障", "请到柜台办理。"],
  kiosk_required: ["本终端未开通自助认证", "请到柜台办理。"],
  agent_session_required: ["本终端暂停服务", "终端程序需要重新启动，请联系工作人员。"],
  face_no_match: ["人脸与身份证照片不一致", "须由持卡人本人办理。请本人正对摄像头重新办理，或到柜台办理。"],
  face_liveness_failed: ["未通过活体检测", "请本人正对摄像头，不要使用照片或视频，然后重新办理。"],
  face_required: ["本终端暂不能办理", "自助认证须核验人脸，本终端没有人脸识别设备，请到柜台办理。"],
  face_device_unavailable: ["人脸识别设备故障", "请到柜台办理。"],
  no_face: ["未检测到人脸", "请正对屏幕上方的摄像头，然后重新办理。"],
};

const $ = (id) => document.getElementById(id);

// The kiosk's browser is started with the address the agent wrote to its private launch
// file: /kiosk/#session=<secret>. The fragment never reaches a server or a log; the page
// keeps the secret for this tab only and takes it out of the address bar.
function sessionSecret() {
  const given = new URLSearchParams(location.hash.slice(1)).get("session");
  if (given) {
    sessionStorage.setItem("xnb.kiosk.session", given);
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("xnb.kiosk.session");
}
const SESSION = sessionSecret();
// The launch address opened in a tab already showing the page only changes the fragment:
// load the page again so it starts with the new session.
window.addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).has("session")) location.reload();
});

const visit = {
  phase: "idle", // idle → card → id → certifying → done | error
  key: null, // the visit's Idempotency-Key: a retried certification is done once
  // After a visit ends the card must come out before the next one starts: a card left in
  // the reader is not a new visit (nor a second certification).
  awaitRemoval: false,
  resetTimer: null,
  pollTimer: null,
};

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function show(headline, message, { tone = "", step = 0, facts = null } = {}) {
  const screen = $("screen");
  screen.className = `screen ${tone}`;
  $("headline").textContent = headline;
  $("message").textContent = message;
  STEP_IDS.forEach((id, index) => {
    $(id).className = index < step ? "done" : index === step ? "current" : "";
  });
  $("facts").hidden = !facts;
  if (facts) {
    $("f-name").textContent = facts.name_masked;
    $("f-id").textContent = facts.id_number_masked;
    $("f-until").textContent = facts.certified_until || "—";
  }
  document.body.dataset.phase = visit.phase;
}

async function call(path, { method = "POST", key } = {}) {
  const headers = { Accept: "application/json", "X-XNB-Agent-Session": SESSION || "" };
  if (key) headers["Idempotency-Key"] = key;
  let response;
  try {
    response = await fetch(path, { method, headers });
  } catch (error) {
    throw { code: "agent_unreachable", detail: "终端服务未响应" };
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw { code: body.code || "error", detail: body.detail || "", status: response.status };
  return body;
}

function failed(error, step) {
  visit.phase = "error";
  visit.awaitRemoval = true;
  const [headline, message] = MESSAGES[error.code] || ["暂时无法办理", error.detail || "请到柜台咨询工作人员。"];
  show(headline, message, { tone: "error", step });
  $("support-code").textContent = `· 故障代码 ${error.code}`; // for the staff, not the resident
  $("hint").textContent = "请取出社保卡和身份证。";
  scheduleReset();
}

function scheduleReset(delay = RESET_AFTER_MS) {
  clearTimeout(visit.resetTimer);
  visit.resetTimer = setTimeout(reset, delay);
}

function reset() {
  clearTimeout(visit.resetTimer);
  visit.phase = "idle";
  visit.key = null;
  show("请插入社保卡", "芯片朝上插入读卡口，系统将自动在线核验。", { step: 0 });
  $("hint").textContent = "如需帮助，请到柜台咨询工作人员。";
  $("support-code").textContent = "";
}

async function cardInserted() {
  if (visit.phase !== "idle" || visit.awaitRemoval) return;
  visit.phase = "card";
  visit.key = newKey();
  show("正在核验社保卡", "请稍候，请勿拔卡。", { tone: "busy", step: 0 });
  try {
    const card = await call("/v1/kiosk/card");
    visit.phase = "id";
    show(`${card.name_masked}，您好`, "请将本人居民身份证放在感应区。", { step: 1, facts: card });
    scheduleReset();
  } catch (error) {
    failed(error, 0);
  }
}

async function tryCertify() {
  if (visit.phase !== "id") return;
  visit.phase = "certifying";
  try {
    const answer = await call("/v1/kiosk/certify", { key: visit.key });
    visit.phase = "done";
    visit.awaitRemoval = true;
    const printed = answer.printed
      ? `回执 ${answer.receipt_number} 已打印，请取走回执。`
      : "回执未能打印，请到柜台补打。";
    const resumed = answer.resumed ? "暂停的养老金将恢复发放。" : "";
    const face = answer.face_outcome === "match" ? "人脸核验通过。" : "";
    show("资格认证成功", `${face}下次认证截止日期：${answer.next_due}。${resumed}\n${printed}`, {
      tone: "ok", step: 3, facts: { ...answer, certified_until: answer.next_due },
    });
    $("hint").textContent = "请取回社保卡和身份证。";
    scheduleReset();
  } catch (error) {
    if (error.code === "no_id_card") {
      visit.phase = "id"; // not there yet: keep waiting for it
      return;
    }
    failed(error, error.code.startsWith("face") || error.code === "no_face" ? 2 : 1);
  }
}

function cardRemoved() {
  visit.awaitRemoval = false;
  if (visit.phase === "idle") return;
  if (visit.phase !== "done" && visit.phase !== "error") failed({ code: "card_removed" }, 0);
  visit.awaitRemoval = false;
  scheduleReset(3000);
}

function connectEvents() {
  // Browsers set no headers on a WebSocket: the secret goes as a subprotocol, not in the URL.
  const socket = new WebSocket(`${location.origin.replace(/^http/, "ws")}/v1/events`, [
    "xnb.events", `xnb-session.${SESSION}`,
  ]);
  socket.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "card.inserted") {
      visit.awaitRemoval = false;
      cardInserted();
    }
    else if (event.type === "card.removed") cardRemoved();
    else if (event.type === "idcard.present") tryCertify();
    else if (event.type === "idcard.read" && visit.phase === "certifying") {
      // The ID card is read; the agent now compares the resident's face with its photo.
      show("请正对摄像头", "请摘下帽子和口罩，正对屏幕上方的摄像头，稍候片刻。", { tone: "busy", step: 2 });
    }
  });
  socket.addEventListener("close", () => setTimeout(connectEvents, 2000));
}

async function poll() {
  // Events can be missed (a card already in when the page loads, an ID card already on
  // the scanner): look again now and then.
  try {
    if (visit.phase === "idle") {
      const { readers } = await call("/v1/readers", { method: "GET" });
      const present = readers.some((r) => r.card_present);
      if (!present) visit.awaitRemoval = false;
      else if (visit.awaitRemoval) show("请取出社保卡", "办理已结束，请取回社保卡和身份证。", { step: 0 });
      else await cardInserted();
    } else if (visit.phase === "id") {
      await tryCertify();
    }
  } catch (_) {
    /* the status line shows trouble; the next poll tries again */
  }
  visit.pollTimer = setTimeout(poll, POLL_MS);
}

async function statusLine() {
  try {
    const status = await call("/v1/status", { method: "GET" });
    const backend = status.backend.reachable === false ? "后台未连接" : "后台在线";
    $("device-line").textContent = `终端 ${status.agent.device_id} · ${backend}`;
  } catch (_) {
    $("device-line").textContent = "终端服务未响应";
  }
}

function tick() {
  $("clock").textContent = new Date().toLocaleString("zh-CN", { hour12: false });
}

tick();
setInterval(tick, 1000);
if (SESSION) {
  reset();
  statusLine();
  setInterval(statusLine, 5000);
  connectEvents();
  poll();
} else {
  // Opened without the launch address: this page may not call the agent at all.
  const [headline, message] = MESSAGES.agent_session_required;
  show(headline, message, { tone: "error" });
  $("support-code").textContent = "· 故障代码 agent_session_required";
}
