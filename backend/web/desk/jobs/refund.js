// 退费申请: ask for a year's own contribution back (paid twice, or the year also covered by
// the employee scheme); nothing moves until a reviewer approves it in the inbox. The
// person's earlier requests are listed with their decision and a rejection's reason.

import { api } from "../lib/api.js";
import { dateTime, yuan } from "../lib/format.js";
import {
  Submission, busy, clear, clearErrors, field, fieldError, h, loading, section, showProblem, table, values,
} from "../lib/ui.js";

const STATUS = { pending: "待复核", approved: "已退费", rejected: "已驳回" };
const REASONS = [["employee_overlap", "该年度已参加职工养老保险（退还全部个人缴费）"], ["duplicate", "重复缴费（退还多缴部分）"]];

export default {
  id: "refund",
  title: "退费申请",
  permissions: ["refund:request"],
  async render(view, ctx) {
    const { person, box } = ctx;
    const years = h("div", {}, loading());
    const history = h("div", { id: "refund-history" }, loading());
    const form = h("form", { id: "refund-form", novalidate: true },
      h("div", { class: "form-grid" },
        field({ name: "assessment_id", label: "退费年度", kind: "select", options: [["", "正在加载…"]] }),
        h("div", { class: "wide" }, field({ name: "reason", label: "退费原因", kind: "select", options: REASONS })),
        h("div", { class: "full" }, field({ name: "note", label: "说明（如职工养老保险参保地、凭证号）", maxlength: 200 }))),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "refund-submit" }, "提交退费申请"),
        h("span", { class: "muted" }, "提交后由复核员审批，审批通过才退款")));
    clear(view, box, h("div", { class: "columns wide-left" }, section("退费申请", form), section("已缴年度", years)),
      section("退费记录", history));
    async function loadHistory() {
      const refunds = await api(`/persons/${person.id}/refunds`).catch((error) => { showProblem(box, error); return []; });
      clear(history, table([
        { label: "年度", value: (r) => `${r.year}` },
        { label: "金额", value: (r) => yuan(r.amount_fen), class: "money" },
        { label: "申请时间", value: (r) => dateTime(r.created_at) },
        { label: "状态", value: (r) => STATUS[r.status] || "其他" },
        { label: "驳回原因", value: (r) => r.rejection_reason || "" },
      ], refunds, { empty: "没有退费申请" }));
    }
    loadHistory();

    const list = await api(`/persons/${person.id}/assessments`).catch((error) => { showProblem(box, error); return []; });
    const paid = list.filter((a) => a.paid_fen > 0).reverse();
    clear(form.assessment_id, paid.length
      ? paid.map((a) => h("option", { value: a.id }, `${a.year} 年度（已缴 ${yuan(a.paid_fen)} 元）`))
      : h("option", { value: "" }, "没有已缴费的年度"));
    clear(years, table([
      { label: "年度", value: (a) => `${a.year}${a.is_make_up ? "（补缴）" : ""}` },
      { label: "个人应缴", value: (a) => yuan(a.own_due_fen), class: "money" },
      { label: "已缴", value: (a) => yuan(a.paid_fen), class: "money" },
    ], paid, { empty: "没有已缴费的年度，无可退费用" }));

    const submission = new Submission();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      box.hide();
      const v = values(form);
      if (!v.assessment_id) { fieldError(form, "assessment_id", "没有可退费的年度"); return; }
      const body = { assessment_id: Number(v.assessment_id), reason: v.reason, note: v.note };
      await busy(form.querySelector("#refund-submit"), async () => {
        try {
          const refund = await api("/contributions/refunds", { method: "POST", body, key: submission.keyFor(body) });
          submission.done();
          loadHistory();
          box.ok(`退费申请已提交：退还 ${yuan(refund.amount_fen)} 元，待复核员审批（审批前不退款）。`);
        } catch (error) { showProblem(box, error, form); }
      });
    });
    form.assessment_id.focus();
  },
};
