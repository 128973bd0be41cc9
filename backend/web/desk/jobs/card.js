// 社保卡: the resident's cards and what can be done with the live one — apply (申领), issue
// against the ID card read in this visit (发放) and activate (启用), report the loss by word
// of mouth (口头挂失, lapses after the policy's days) or in writing (正式挂失), cancel the
// loss (解挂), replace (补换), and reset the PIN on the card in the reader: the backend's
// unblock command goes through the agent to the card, the new PIN typed by the resident on
// the reader's PIN pad or, without one, in two masked fields here (docs/pages.md).

import { agent } from "../lib/agent.js";
import { api } from "../lib/api.js";
import { codeName, codeOptions } from "../lib/codes.js";
import { dateTime } from "../lib/format.js";
import { receiptPanel } from "../lib/receipt.js";
import {
  Submission, busy, clear, clearErrors, empty, facts, field, fieldError, h, loading, section, showProblem, table, values,
} from "../lib/ui.js";

const LIVE = ["applied", "in_production", "produced", "personalised", "issued", "active", "temporary_loss", "lost"];

const ACTIONS = {
  issue: { label: "发放", hint: "核对本人身份证后发卡", from: ["personalised"] },
  activate: { label: "启用", hint: "持卡人领卡后启用", from: ["issued"] },
  report_temporary_loss: { label: "口头挂失", hint: "电话或口头挂失，到期未转正式挂失自动解除", from: ["active"], reason: true },
  report_loss: { label: "正式挂失", hint: "本人持身份证书面挂失", from: ["active", "temporary_loss"], reason: true, receipt: "card_loss" },
  unblock: { label: "解除挂失", hint: "卡已找回，恢复使用", from: ["temporary_loss", "lost"] },
  replace: { label: "补换卡", hint: "旧卡作废，按原社会保障号码重新制卡", from: ["issued", "active", "temporary_loss", "lost"], reason: true },
};

const EVENT_LABELS = {
  apply: "申领", start_production: "送制卡", produce: "卡厂回盘", personalise: "个人化", spoil: "报废",
  issue: "发放", activate: "启用", report_temporary_loss: "口头挂失", report_loss: "正式挂失",
  unblock: "解除挂失", replace: "补换卡", cancel: "注销", loss_expired: "口头挂失到期",
};

function idCardOfThisVisit(ctx) {
  const read = ctx.checks.idCard;
  return read && read.id_number === ctx.person.id_number ? read : null;
}

export default {
  id: "card",
  title: "社保卡",
  permissions: ["card:read"],
  async render(view, ctx) {
    const { person, box } = ctx;
    const body = h("div", {}, loading("正在读取社保卡记录…"));
    clear(view, box, body);

    let cards;
    try {
      cards = (await api("/cards", { query: { person_id: person.id, limit: 50 } })).items;
    } catch (error) { clear(body); showProblem(box, error); return; }
    const live = cards.find((c) => LIVE.includes(c.state)) || null;
    const history = section("历次社保卡", table([
      { label: "卡号", value: (c) => c.card_number || "（未制卡）" },
      { label: "状态", value: (c) => c.state_label },
      { label: "开户银行", value: (c) => codeName("bank", c.bank_code) },
      { label: "发卡日期", value: (c) => c.issue_date || "—" },
      { label: "有效期至", value: (c) => c.expiry_date || "—" },
    ], cards, { empty: "此人还没有申领过社保卡" }));

    if (!live) {
      clear(body, h("div", { class: "columns wide-left" }, applyForm(ctx), history));
      return;
    }
    const detail = await api(`/cards/${live.id}`).catch(() => null);
    const card = section("当前社保卡",
      facts([
        ["卡号", h("span", { id: "card-number" }, live.card_number || "（制卡中）")],
        ["状态", h("span", { id: "card-state", class: live.state === "active" ? "status-ok" : "status-warn" }, live.state_label)],
        ["开户银行", codeName("bank", live.bank_code)],
        ["有效期", live.expiry_date ? `${live.issue_date} 至 ${live.expiry_date}` : "—"],
        live.loss_reported_on ? ["挂失日期", `${live.loss_reported_on}${live.loss_expires_on ? `（口头挂失至 ${live.loss_expires_on} 止）` : ""}`] : null,
      ]),
      detail ? table([
        { label: "时间", value: (e) => dateTime(e.at) },
        { label: "业务", value: (e) => EVENT_LABELS[e.action] || "其他" },
        { label: "说明", value: (e) => e.reason || "" },
      ], [...detail.events].reverse(), { caption: "办理记录", empty: "没有办理记录" }) : null);
    const actions = actionsPanel(ctx, live);
    const pin = live.state === "active" ? pinResetPanel(ctx, live) : null;
    clear(body, h("div", { class: "columns wide-left" }, h("div", {}, actions, pin), h("div", {}, card, history)));
  },
};

function applyForm(ctx) {
  const { person, box } = ctx;
  const banks = codeOptions("bank");
  const form = h("form", { id: "card-apply-form", novalidate: true },
    h("div", { class: "form-grid" },
      field({ name: "bank_code", label: "开户银行（社保卡金融账户）", kind: "select", options: banks.length ? banks : [["", "没有合作银行"]] })),
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary", id: "card-apply-submit" }, "申领社保卡"),
      h("span", { class: "muted" }, "申领后由制卡中心制卡，卡到后在此发放")));
  const submission = new Submission();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    box.hide();
    const v = values(form);
    if (!v.bank_code) { fieldError(form, "bank_code", "请选择开户银行"); return; }
    const request = { person_id: person.id, generation: 3, bank_code: v.bank_code };
    await busy(form.querySelector("#card-apply-submit"), async () => {
      try {
        await api("/cards", { method: "POST", body: request, key: submission.keyFor(request) });
        submission.done();
        await ctx.reload();
        box.ok(`已为${person.name}申领社保卡，等待制卡。`);
      } catch (error) { showProblem(box, error, form); }
    });
  });
  queueMicrotask(() => form.bank_code.focus());
  return section("申领社保卡", form);
}

function actionsPanel(ctx, card) {
  const { person, box } = ctx;
  const possible = Object.entries(ACTIONS).filter(([, a]) => a.from.includes(card.state));
  if (!possible.length) {
    return section("可办业务", empty(card.state === "applied" || card.state === "in_production" || card.state === "produced"
      ? "社保卡正在制作，卡到后可在此发放" : "此卡当前没有可办理的业务"));
  }
  const form = h("form", { id: "card-action-form", novalidate: true },
    h("div", { class: "form-grid" },
      field({ name: "action", label: "业务", kind: "radio", value: possible[0][0],
        options: possible.map(([id, a]) => [id, a.label, a.hint]) }),
      h("div", { class: "full" }, field({ name: "reason", label: "原因（挂失、补换时填写）", maxlength: 200 }))),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "card-action-submit" }, "办理")));
  const result = h("div", { id: "card-action-result" });
  const submissions = new Map();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    box.hide();
    const v = values(form);
    const action = ACTIONS[v.action];
    const request = {};
    if (action.reason && v.reason) request.reason = v.reason;
    if (v.action === "issue") {
      const idCard = idCardOfThisVisit(ctx);
      if (!idCard) { box.warn("发卡须先读取持卡人本人的身份证（F3）。"); return; }
      request.id_number = idCard.id_number;
    }
    if (!submissions.has(v.action)) submissions.set(v.action, new Submission());
    const submission = submissions.get(v.action);
    await busy(form.querySelector("#card-action-submit"), async () => {
      try {
        const done = await api(`/cards/${card.id}/actions/${v.action}`, {
          method: "POST", body: request, key: submission.keyFor({ card: card.id, action: v.action, ...request }),
        });
        submission.done();
        const replaced = done.replacement ? `，新卡已申领（按原社会保障号码制卡）` : "";
        box.ok(`已办理“${action.label}”：卡号 ${card.card_number || ""} 现为“${done.card.state_label}”${replaced}。`);
        if (action.receipt) {
          const history = await api(`/cards/${card.id}`);
          const event = [...history.events].reverse().find((e) => e.action === v.action);
          const receipt = receiptPanel({
            kind: action.receipt, factId: event.id, what: "挂失回执",
            fields: { layout: action.receipt, name: person.name, id_number: person.id_number,
              card_number: card.card_number, bank: codeName("bank", card.bank_code) },
          });
          clear(result, receipt.element);
          await receipt.print();
        }
        await ctx.reload();
      } catch (error) { showProblem(box, error, form); }
    });
  });
  return section("可办业务", form, result);
}

function pinResetPanel(ctx, card) {
  const { person, box } = ctx;
  const panel = h("div", { id: "pin-reset" }, loading("正在查看读卡器…"));
  const submission = new Submission();

  async function show() {
    let entry = "keyboard";
    try { entry = (await agent("/v1/card/pin-entry", { method: "GET" })).entry; } catch (error) {
      clear(panel, empty("无法连接本机读卡器，暂不能重置密码")); return;
    }
    const onPad = entry === "pin_pad";
    const form = h("form", { id: "pin-reset-form", novalidate: true, autocomplete: "off" },
      h("p", { class: "hint" }, "请持卡人把本人社保卡插入读卡器，并先读取本人身份证（F3）。"),
      onPad
        ? h("p", { class: "note", id: "pin-pad-note" }, "本读卡器带密码键盘：提交后请持卡人在读卡器键盘上输入6位新密码两次，再输入一次确认。页面不接收密码。")
        : h("div", { class: "form-grid" },
          field({ name: "new_pin", label: "新密码（6位数字，由持卡人输入）", kind: "password", inputmode: "numeric", maxlength: 6, autocomplete: "new-password" }),
          field({ name: "confirm_pin", label: "再次输入新密码", kind: "password", inputmode: "numeric", maxlength: 6, autocomplete: "new-password" })),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "pin-reset-submit" }, "重置密码")));
    clear(panel, form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      box.hide();
      const idCard = idCardOfThisVisit(ctx);
      if (!idCard) { box.warn("重置密码须先读取持卡人本人的身份证（F3）。"); return; }
      const request = { card_id: card.id, id_number: idCard.id_number };
      if (!onPad) {
        const v = values(form);
        if (!/^\d{6}$/.test(v.new_pin || "")) { fieldError(form, "new_pin", "密码须为6位数字"); return; }
        if (v.new_pin !== v.confirm_pin) { fieldError(form, "confirm_pin", "两次输入的密码不一致"); return; }
        request.new_pin = v.new_pin;
      }
      await busy(form.querySelector("#pin-reset-submit"), async () => {
        try {
          const done = await agent("/v1/card/pin-reset", {
            // The PIN stays out of the key: a retry after a lost answer is answered by the agent.
            withLogin: true, body: request, key: submission.keyFor({ card: card.id }),
          });
          submission.done();
          form.reset();
          box.ok(`密码已重置并经卡片验证：卡号 ${done.card_number}，密码错误次数已清零（可试 ${done.tries_left} 次）。`);
        } catch (error) { showProblem(box, error, form); }
      });
    });
  }
  show();
  return section(`重置密码（${person.name}）`, panel);
}
