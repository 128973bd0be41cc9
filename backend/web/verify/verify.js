// The public receipt check: the token is the URL fragment (a QR code printed as
// …/verify/#XNBR1.…) or pasted text; it is posted to the backend, never put in a URL.
"use strict";

const KINDS = {
  contribution: "缴费收据",
  card_issued: "社保卡领卡回执",
  card_loss: "社保卡挂失回执",
  survival: "领取待遇资格认证回执",
  pension_statement: "养老金发放对账单",
  account_statement: "个人账户对账单",
  contribution_certificate: "缴费证明",
  day_close: "柜面日结单",
};
const REASONS = {
  malformed: "二维码内容不完整或不是本系统的回执",
  too_long: "二维码内容过长，不是本系统的回执",
  bad_time: "回执的签发时间无效",
  unknown_key: "回执不是由本系统的签名密钥签发的",
  bad_signature: "回执内容与签名不符，可能被改动过",
};

const $ = (id) => document.getElementById(id);

function row(list, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

function show(answer) {
  const box = $("result");
  const list = $("claims");
  list.replaceChildren();
  $("details").textContent = "";
  box.hidden = false;
  box.className = answer.genuine ? "genuine" : "forged";
  if (answer.genuine) {
    const c = answer.claims;
    $("verdict").textContent = "回执真实有效";
    row(list, "回执类别", KINDS[c.kind] || "社保经办回执");
    row(list, "回执号", c.receipt_number);
    // A day-close slip is the office's, not a person's: it carries the office code.
    row(list, c.kind === "day_close" ? "经办机构代码" : "身份证号", c.person);
    if (c.amount_fen !== null) row(list, "金额", `${(c.amount_fen / 100).toFixed(2)}元`);
    row(list, "签发时间", new Date(c.issued_at).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" }));
  } else {
    $("verdict").textContent = "无法确认此回执为真";
    row(list, "原因", REASONS[answer.code] || "回执无法核验");
    $("details").textContent = `（供技术支持：${answer.code}）`;
  }
}

async function check(token) {
  $("check").disabled = true;
  $("result").hidden = true;
  $("verdict").textContent = "";
  try {
    const response = await fetch("/api/v1/public/receipts/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token }),
      referrerPolicy: "no-referrer",
    });
    if (response.status === 429) {
      show({ genuine: false, code: "rate_limited" });
      $("claims").replaceChildren();
      row($("claims"), "原因", "核验次数过多，请稍后再试");
      return;
    }
    show(await response.json());
  } catch (error) {
    show({ genuine: false, code: "network" });
    $("claims").replaceChildren();
    row($("claims"), "原因", "无法连接核验服务，请检查网络后重试");
  } finally {
    $("check").disabled = false;
  }
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (token) check(token);
});

function fragmentToken() {
  try {
    return decodeURIComponent(location.hash.slice(1)).trim();
  } catch (error) {
    return location.hash.slice(1).trim(); // not percent-encoded: the check will say so
  }
}

function checkFragment() {
  const token = fragmentToken();
  if (!token) return;
  $("token").value = token;
  // The fragment is dropped from the address bar (and from the history entry).
  history.replaceState(null, "", location.pathname);
  check(token);
}

// A second QR code opened in the same tab only changes the fragment: check it too.
window.addEventListener("hashchange", checkFragment);
checkFragment();
