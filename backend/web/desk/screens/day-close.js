// 日结: the office's counter day — each clerk's cash by kind (本年度 / 补缴), count and
// amount, reversals, receipts issued and voided, the cash to deposit — with the day's
// collections (a reviewer reverses a wrong one here, never their own), printed on A4, and
// signed off by the office's reviewer; a signed day takes no more collections and its
// slip (日结单) prints on the workstation's receipt printer.

import { api, can, session } from "../lib/api.js";
import { receiptPanel } from "../lib/receipt.js";
import { dateTime, today, yuan } from "../lib/format.js";
import {
  Submission, busy, clear, empty, facts, field, h, loading, section, showProblem, table, values,
} from "../lib/ui.js";

const KIND = { current: "本年度缴费", make_up: "补缴" };

export default {
  id: "day-close",
  title: "日结",
  group: "office",
  permissions: ["contribution:read"],
  key: "F9",
  async render(view, ctx) {
    const { box } = ctx;
    const picker = h("form", { id: "day-form", class: "inline no-print", novalidate: true },
      field({ name: "business_date", label: "日结日期", kind: "date", value: today(), max: today() }),
      h("button", { type: "submit" }, "查看"),
      h("button", { type: "button", id: "day-print", onclick: () => window.print() }, "打印A4日结单"));
    const body = h("div", { id: "day-body" }, loading());
    clear(view, box, h("h2", {}, `日结 · ${session.me.office_name}`), picker, body);

    const signing = new Submission();
    async function load() {
      box.hide();
      clear(body, loading());
      const { business_date: date } = values(picker);
      try {
        const day = await api("/contributions/day-close", { query: { business_date: date } });
        render(day);
      } catch (error) { clear(body); showProblem(box, error, picker); }
    }

    function render(day) {
      const clerks = table([
        { label: "经办人", value: (c) => c.operator_name },
        { label: "收款笔数", value: (c) => c.collections_count, class: "money" },
        { label: "其中", value: (c) => c.by_kind.map((k) => h("div", {}, `${KIND[k.kind] || "其他"} ${k.count} 笔 ${yuan(k.amount_fen)} 元`)) },
        { label: "收款金额", value: (c) => yuan(c.collected_fen), class: "money" },
        { label: "冲正", value: (c) => `${c.reversals_count} 笔 ${yuan(c.reversed_fen)} 元`, class: "money" },
        { label: "开具收据", value: (c) => c.receipts_issued, class: "money" },
        { label: "作废收据", value: (c) => c.receipts_voided, class: "money" },
        { label: "应缴存现金", value: (c) => yuan(c.deposit_fen), class: "money" },
      ], day.clerks, { empty: "当日没有收款" });
      const totals = facts([
        ["收款", `${day.collections_count} 笔，${yuan(day.collected_fen)} 元`],
        ["冲正", `${day.reversals_count} 笔，${yuan(day.reversed_fen)} 元`],
        ["应缴存现金合计", h("span", { id: "day-deposit", class: "money big" }, `${yuan(day.deposit_fen)} 元`)],
        ["状态", h("span", { id: "day-status", class: day.closed ? "status-ok" : "status-warn" },
          day.closed ? `已日结签字（${day.signed_by_name}，${dateTime(day.closed.signed_at)}），当日不再收款` : "未日结")],
      ]);
      const lines = table([
        { label: "收据号", value: (l) => l.receipt_no, class: "idno" },
        { label: "参保人", value: (l) => h("a", { href: `#/person/${l.person_id}` }, l.person_name) },
        { label: "年度", value: (l) => `${l.year}${l.kind === "make_up" ? "（补缴）" : ""}` },
        { label: "金额", value: (l) => yuan(l.amount_fen), class: "money" },
        { label: "经办人", value: (l) => l.operator_name },
        { label: "", value: (l) => lineAction(l, day) },
      ], day.lines, { empty: "当日没有收款记录" });
      const sign = can("day_close:sign") && !day.closed
        ? h("div", { class: "buttons no-print" },
          h("button", { type: "button", class: "primary", id: "day-sign", onclick: (e) => signOff(day, e.currentTarget) }, "核对无误，日结签字"),
          h("span", { class: "muted" }, "签字后当日不能再收款或冲正"))
        : null;
      clear(body, totals, sign, slip(day), section(`${day.business_date} 各经办人收款`, clerks), section("当日收款明细", lines));
    }

    // A signed day's slip on the workstation's receipt printer, signed by the backend for
    // the day-close record (an unsigned day has none).
    function slip(day) {
      if (!day.closed) return null;
      const receipt = receiptPanel({
        factId: day.closed.id, what: "日结单",
        fields: {
          layout: "day_close", business_date: day.business_date, deposit_fen: day.deposit_fen,
          signed_by: day.signed_by_name,
          clerks: day.clerks.map((c) => ({
            name: c.operator_name, collections_count: c.collections_count, collected_fen: c.collected_fen,
            reversals_count: c.reversals_count, reversed_fen: c.reversed_fen, deposit_fen: c.deposit_fen,
          })),
        },
      });
      return h("div", { class: "buttons no-print", id: "day-slip" },
        h("button", { type: "button", class: "primary", id: "day-slip-print", onclick: (e) => busy(e.currentTarget, receipt.print) }, "打印日结单"),
        receipt.element);
    }

    function lineAction(line, day) {
      if (line.reverses_id) return h("span", { class: "muted" }, "冲正记录");
      if (line.reversed_by_id) return h("span", { class: "status-warn" }, "已冲正");
      if (day.closed || !can("contribution:reverse")) return "";
      if (line.operator_id === session.me.operator_id) return h("span", { class: "muted" }, "本人收款");
      const submission = new Submission();
      return h("button", { type: "button", class: "danger no-print", onclick: async (e) => {
        const reason = window.prompt(`冲正收据 ${line.receipt_no}（${line.person_name} ${yuan(line.amount_fen)} 元）的原因：`);
        if (!reason || !reason.trim()) return;
        const bodyIn = { reason: reason.trim() };
        await busy(e.currentTarget, async () => {
          try {
            await api(`/contributions/collections/${line.id}/reversal`, { method: "POST", body: bodyIn, key: submission.keyFor(bodyIn) });
            await load();
            box.ok(`收据 ${line.receipt_no} 已冲正，${yuan(line.amount_fen)} 元退还参保人。`);
          } catch (error) { showProblem(box, error); }
        });
      } }, "冲正");
    }

    async function signOff(day, button) {
      const bodyIn = { business_date: day.business_date };
      await busy(button, async () => {
        try {
          const signed = await api("/contributions/day-close", { method: "POST", body: bodyIn, key: signing.keyFor(bodyIn) });
          render(signed);
          box.ok(`${day.business_date} 已日结签字：应缴存现金 ${yuan(signed.deposit_fen)} 元。`);
        } catch (error) { showProblem(box, error); }
      });
    }

    picker.addEventListener("submit", (event) => { event.preventDefault(); load(); });
    await load();
  },
};
