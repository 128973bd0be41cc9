// 转移接续: the enrolment and the whole account balance move once — to the county of the
// resident's new household register (after the change of 户籍地 was approved), or out of the
// province to the agency named. Refused for people already receiving a pension.

import { api } from "../lib/api.js";
import { regionPath } from "../lib/codes.js";
import { yuan } from "../lib/format.js";
import { Submission, busy, clear, clearErrors, facts, field, fieldError, h, section, showProblem, values } from "../lib/ui.js";
import { currentEnrolment } from "../lib/workspace.js";

export default {
  id: "transfer",
  title: "转移接续",
  permissions: ["enrolment:write"],
  available(ctx) {
    if (ctx.pension) return "已领取待遇的人员不办理转移。";
    const enrolment = currentEnrolment(ctx.person);
    if (!enrolment || enrolment.ended_on) return "此人没有有效的参保登记。";
    return null;
  },
  async render(view, ctx) {
    const { person, box, statement } = ctx;
    const enrolment = currentEnrolment(person);
    const moved = enrolment.county_code !== person.county_code;
    const form = h("form", { id: "transfer-form", novalidate: true },
      field({ name: "kind", label: "转往", kind: "radio", value: moved ? "county" : "province",
        options: [
          ["county", "省内其他县（户籍已迁入）", moved ? "" : "须先在“信息变更”中变更户籍地并经复核"],
          ["province", "外省（转出到对方经办机构）"],
        ] }),
      field({ name: "to_agency", label: "转入地经办机构（转外省时填写）", maxlength: 100 }),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "transfer-submit" }, "办理转移")));
    clear(view, box, h("div", { class: "columns wide-left" },
      section("办理转移", form),
      section("转移内容", facts([
        ["原参保地", h("span", { id: "transfer-from" }, "…")],
        ["现户籍地", h("span", { id: "transfer-hukou" }, "…")],
        ["个人账户余额", statement ? `${yuan(statement.closing_fen)} 元（全部转出）` : "—"],
      ]))));
    regionPath(enrolment.region_code, 3).then((name) => { view.querySelector("#transfer-from").textContent = name; });
    regionPath(person.hukou_region_code, 3).then((name) => { view.querySelector("#transfer-hukou").textContent = name; });
    const submission = new Submission();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      box.hide();
      const v = values(form);
      const body = { person_id: person.id };
      if (v.kind === "province") {
        if (!v.to_agency) { fieldError(form, "to_agency", "请填写转入地经办机构"); return; }
        body.to_agency = v.to_agency;
      } else if (!moved) {
        box.warn("户籍地未变更到其他县，不能办理省内转移；请先办理户籍地变更。");
        return;
      }
      await busy(form.querySelector("#transfer-submit"), async () => {
        try {
          const done = await api("/transfers", { method: "POST", body, key: submission.keyFor(body) });
          submission.done();
          box.ok(`转移已办理：个人账户 ${yuan(done.balance_fen)} 元、缴费 ${done.contribution_years} 年已转出${done.to_agency ? `至${done.to_agency}` : ""}。`);
          await ctx.reload();
        } catch (error) { showProblem(box, error, form); }
      });
    });
  },
};
