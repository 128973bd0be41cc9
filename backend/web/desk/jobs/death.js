// 死亡登记: a death reported at the counter with the document seen (kind and number) and who
// reported it; the pension is suspended at once and the case waits for the reviewer, who
// settles the account (overpaid pension recovered, the rest to the heirs).

import { api } from "../lib/api.js";
import { today } from "../lib/format.js";
import { Submission, busy, clear, clearErrors, field, fieldError, h, section, showProblem, values } from "../lib/ui.js";

const EVIDENCE = [
  ["death_certificate", "居民死亡医学证明"],
  ["cremation_certificate", "火化证明"],
  ["household_cancellation", "户籍注销证明"],
  ["other", "其他证明"],
];

export default {
  id: "death",
  title: "死亡登记",
  permissions: ["benefit:apply"],
  async render(view, ctx) {
    const { person, box } = ctx;
    const form = h("form", { id: "death-form", novalidate: true },
      h("div", { class: "form-grid" },
        field({ name: "died_on", label: "死亡日期", kind: "date", max: today() }),
        field({ name: "kind", label: "证明材料", kind: "select", options: EVIDENCE }),
        field({ name: "number", label: "证明编号", maxlength: 40 }),
        field({ name: "reported_by", label: "报告人姓名", maxlength: 50 }),
        field({ name: "relationship", label: "与死者关系", maxlength: 20 })),
      h("div", { class: "buttons" },
        h("button", { type: "submit", class: "primary danger", id: "death-submit" }, "登记死亡"),
        h("span", { class: "muted" }, "登记后待遇立即暂停，复核员确认后结算个人账户")));
    clear(view, box, section(`死亡登记（${person.name}）`, form));
    const submission = new Submission();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      box.hide();
      const v = values(form);
      const missing = [["died_on", "请填写死亡日期"], ["number", "请填写证明编号"], ["reported_by", "请填写报告人"], ["relationship", "请填写与死者关系"]]
        .filter(([name]) => !v[name]);
      if (missing.length) { missing.forEach(([name, text], i) => fieldError(form, name, text, { focus: i === 0 })); return; }
      const body = {
        person_id: person.id, died_on: v.died_on,
        evidence: { kind: v.kind, number: v.number, reported_by: v.reported_by, relationship: v.relationship },
      };
      await busy(form.querySelector("#death-submit"), async () => {
        try {
          const found = await api("/benefits/deaths", { method: "POST", body, key: submission.keyFor(body) });
          submission.done();
          const overpaid = found.overpaid_fen ? `，死亡后已发养老金 ${(found.overpaid_fen / 100).toFixed(2)} 元待追回` : "";
          box.ok(`已登记 ${person.name} 于 ${found.died_on} 死亡（登记号 ${found.id}）：待遇已暂停${overpaid}，待复核员确认。`);
          await ctx.reload();
        } catch (error) { showProblem(box, error, form); }
      });
    });
    form.died_on.focus();
  },
};
