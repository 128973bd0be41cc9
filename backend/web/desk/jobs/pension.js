// 待遇申请: the qualification checked rule by rule (each passed or the backend's reason for
// failing it), the pension it would give part by part from the start month, and the
// application with the payee account; the award waits for the reviewer (maker ≠ checker).

import { api } from "../lib/api.js";
import { codeOptions } from "../lib/codes.js";
import { yuan } from "../lib/format.js";
import {
  Submission, busy, clear, clearErrors, facts, field, fieldError, h, loading, section, showProblem, values,
} from "../lib/ui.js";

// backend/benefits/qualification.py: every rule the check applies, in its order.
const RULES = [
  [["pension_age"], "年满领取年龄"],
  [["household_register"], "本省户籍"],
  [["other_state_pension"], "未享受其他基本养老保障"],
  [["min_contribution_years", "pay_yearly", "children_enrolled"], "缴费年限（或制度实施时已满龄者子女参保）"],
];

export default {
  id: "pension",
  title: "待遇申请",
  permissions: ["benefit:apply"],
  available(ctx) {
    if (ctx.pension) return "此人已在领取养老金待遇。";
    return null;
  },
  async render(view, ctx) {
    const { person, box } = ctx;
    const check = h("div", { id: "qualification" }, loading("正在审查领取资格…"));
    const banks = codeOptions("bank");
    const form = h("form", { id: "pension-form", novalidate: true },
      h("div", { class: "form-grid" },
        field({ name: "bank_code", label: "发放银行", kind: "select", options: banks.length ? banks : [["", "没有合作银行"]] }),
        field({ name: "bank_account", label: "银行卡号或账号", inputmode: "numeric", maxlength: 34 })),
      h("div", { class: "buttons" },
        h("button", { type: "submit", class: "primary", id: "pension-submit" }, "提交待遇申请"),
        h("span", { class: "muted" }, "提交后由复核员审核，审核通过才核定发放")));
    clear(view, box, h("div", { class: "columns wide-left" }, section("领取资格审查", check), section("待遇申请", form)));

    let result;
    try {
      result = await api(`/benefits/persons/${person.id}/qualification`);
    } catch (error) { clear(check); showProblem(box, error); return; }
    const failed = new Map(result.reasons.map((r) => [r.rule, r.message]));
    const p = result.pension;
    clear(check,
      h("ul", { class: "checklist", id: "qualification-rules" }, RULES.map(([rules, label]) => {
        const reason = rules.map((r) => failed.get(r)).find(Boolean);
        return h("li", { class: reason ? "status-bad" : "status-ok", "data-rule": rules[0] },
          reason ? `✗ ${label}：${reason}` : `✓ ${label}`);
      })),
      h("p", { id: "qualifies", class: result.qualifies ? "message ok" : "message warn" },
        result.qualifies ? `符合领取条件，自 ${result.start_month.slice(0, 7)} 起发放。` : "暂不符合领取条件，原因见上。"),
      facts([
        ["累计缴费年限", `${p.contribution_years} 年`],
        ["个人账户余额", `${yuan(p.balance_fen)} 元`],
        ["基础养老金", `${yuan(p.minimum_fen)} 元`],
        ["地方加发", `${yuan(p.topup_fen)} 元`],
        ["长缴加发", `${yuan(p.bonus_fen)} 元`],
        ["个人账户养老金", `${yuan(p.account_fen)} 元`],
        ["月养老金合计", h("span", { class: "money big", id: "pension-total" }, `${yuan(p.total_fen)} 元`)],
      ]));
    const submit = form.querySelector("#pension-submit");
    submit.disabled = !result.qualifies;
    const submission = new Submission();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      box.hide();
      const v = values(form);
      if (!v.bank_code) { fieldError(form, "bank_code", "请选择发放银行"); return; }
      if (!/^[0-9A-Z]{8,34}$/.test(v.bank_account || "")) { fieldError(form, "bank_account", "请填写8至34位卡号或账号"); return; }
      const body = { person_id: person.id, bank_code: v.bank_code, bank_account: v.bank_account };
      await busy(submit, async () => {
        try {
          const application = await api("/benefits/applications", { method: "POST", body, key: submission.keyFor(body) });
          submission.done();
          box.ok(`待遇申请已提交（申请号 ${application.id}），待复核员审核；审核通过后自 ${application.start_month.slice(0, 7)} 起发放。`);
          submit.disabled = true;
        } catch (error) { showProblem(box, error, form); }
      });
    });
    if (result.qualifies) form.bank_code.focus();
  },
};
