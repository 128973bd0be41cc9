// 信息变更: name, ID number, birth date, hukou village, phone, address; and the payee
// account of a pension. Changes a reviewer must approve stay pending (shown as pending in
// the workspace) until the reviewer decides in the inbox.

import { api } from "../lib/api.js";
import { codeName, codeOptions, regionChildren, regionPath } from "../lib/codes.js";
import { LABELS, idNumberProblem, maskAccount } from "../lib/format.js";
import {
  Submission, busy, clear, clearErrors, field, fieldError, h, section, showProblem, table, values,
} from "../lib/ui.js";
import { pendingChanges } from "../lib/workspace.js";

const FIELDS = ["name", "id_number", "birth_date", "hukou_region_code", "phone", "address"];

async function villages(current) {
  const townshipCode = current.slice(0, 9).padEnd(12, "0");
  const list = await regionChildren(townshipCode);
  return list.map((v) => [v.code, v.name]);
}

export default {
  id: "change",
  title: "信息变更",
  permissions: ["person:write"],
  async render(view, ctx) {
    const { person, pension, box } = ctx;
    const form = h("form", { id: "change-form", novalidate: true },
      h("div", { class: "form-grid" },
        field({ name: "name", label: "姓名", value: person.name, maxlength: 50 }),
        field({ name: "id_number", label: "身份证号码", value: person.id_number, maxlength: 18 }),
        field({ name: "birth_date", label: "出生日期", kind: "date", value: person.birth_date }),
        field({ name: "hukou_region_code", label: "户籍地（村）", kind: "select", options: [[person.hukou_region_code, "…"]] }),
        field({ name: "phone", label: "联系电话", value: person.phone || "", maxlength: 20 }),
        field({ name: "address", label: "住址", value: person.address || "", maxlength: 200 }),
        h("div", { class: "full" }, field({ name: "reason", label: "变更原因（必填）", maxlength: 200 }))),
      h("div", { class: "buttons" },
        h("button", { type: "submit", class: "primary", id: "change-submit" }, "提交变更"),
        h("span", { class: "muted" }, "姓名、身份证号码、出生日期、户籍地须复核员审核后生效")));
    villages(person.hukou_region_code).then((options) => {
      clear(form.hukou_region_code, options.map(([c, n]) => h("option", { value: c, selected: c === person.hukou_region_code }, n)));
    }).catch(() => {});

    // The payee account changes only when a reviewer approves (maker-checker, in the inbox).
    const banks = codeOptions("bank");
    const bankChoices = banks.some(([code]) => code === pension?.bank_code)
      ? banks : [...banks, [pension?.bank_code, codeName("bank", pension?.bank_code)]];
    const bankForm = pension ? h("form", { id: "bank-form", novalidate: true },
      h("p", { class: "muted" }, `当前发放账户：${codeName("bank", pension.bank_code)} ${maskAccount(pension.bank_account)}`),
      h("div", { class: "form-grid" },
        field({ name: "bank_code", label: "开户银行", kind: "select", options: bankChoices, value: pension.bank_code }),
        field({ name: "bank_account", label: "银行账号", maxlength: 34, inputmode: "numeric" }),
        field({ name: "account_holder", label: "账户户名（须为本人）", value: person.name, maxlength: 100 }),
        h("div", { class: "full" }, field({ name: "reason", label: "变更原因（必填）", maxlength: 200 }))),
      h("div", { class: "buttons" }, h("button", { type: "submit", id: "bank-submit" }, "申请变更发放账户"),
        h("span", { class: "muted" }, "复核员审核通过后生效"))) : null;

    const pendingList = h("div", { id: "change-pending" });
    async function showPending() {
      const rows = pendingChanges(ctx.person);
      const named = await Promise.all(rows.map(async (c) => ({
        ...c,
        before: c.field === "hukou_region_code" ? await regionPath(c.old_value) : c.old_value,
        after: c.field === "hukou_region_code" ? await regionPath(c.new_value) : c.new_value,
      })));
      clear(pendingList, table([
        { label: "项目", value: (c) => LABELS.changeField[c.field] || "其他" },
        { label: "变更前", value: (c) => c.before ?? "—" },
        { label: "变更后", value: (c) => c.after ?? "—" },
        { label: "状态", value: () => h("span", { class: "status-warn" }, "待复核") },
      ], named, { empty: "没有待复核的变更" }));
    }

    clear(view, box, h("div", { class: "columns wide-left" },
      h("div", {}, section("基本信息", form), bankForm ? section("待遇发放账户", bankForm) : null),
      section("待复核的变更", pendingList)));
    await showPending();

    const submission = new Submission();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      box.hide();
      const v = values(form);
      const body = {};
      for (const name of FIELDS) {
        const before = name === "birth_date" ? person.birth_date : (person[name] ?? null);
        if ((v[name] ?? null) !== before) body[name] = v[name];
      }
      if (!Object.keys(body).length) { box.info("没有修改任何项目。"); return; }
      if (body.id_number) {
        body.id_number = body.id_number.toUpperCase();
        const problem = idNumberProblem(body.id_number);
        if (problem) { fieldError(form, "id_number", problem); return; }
      }
      if (!v.reason) { fieldError(form, "reason", "请填写变更原因"); return; }
      body.reason = v.reason;
      body.version = person.version;
      await busy(form.querySelector("#change-submit"), async () => {
        try {
          const result = await api(`/persons/${person.id}`, { method: "PATCH", body, key: submission.keyFor(body) });
          submission.done();
          await ctx.reload();
          const applied = result.applied.map((c) => LABELS.changeField[c.field] || "其他");
          const pending = result.pending.map((c) => LABELS.changeField[c.field] || "其他");
          const parts = [];
          if (applied.length) parts.push(`已生效：${applied.join("、")}`);
          if (pending.length) parts.push(`待复核员审核：${pending.join("、")}（审核通过前不生效）`);
          box.ok(`变更已提交。${parts.join("；")}。`);
          await showPending();
        } catch (error) { showProblem(box, error, form); }
      });
    });

    if (bankForm) {
      const bankSubmission = new Submission();
      bankForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(bankForm);
        box.hide();
        const v = values(bankForm);
        if (!v.bank_account || !/^\d{8,34}$/.test(v.bank_account)) { fieldError(bankForm, "bank_account", "请输入8至34位数字账号"); return; }
        if (!v.reason) { fieldError(bankForm, "reason", "请填写变更原因"); return; }
        const body = { bank_code: v.bank_code, bank_account: v.bank_account, account_holder: v.account_holder, reason: v.reason };
        await busy(bankForm.querySelector("#bank-submit"), async () => {
          try {
            await api(`/benefits/pensions/${person.id}/bank`, { method: "PUT", body, key: bankSubmission.keyFor(body) });
            bankSubmission.done();
            box.ok(`发放账户变更已提交：${codeName("bank", v.bank_code)} ${maskAccount(v.bank_account)}，待复核员审核（审核通过前仍发放到原账户）。`);
          } catch (error) { showProblem(box, error, bankForm); }
        });
      });
    }
    form.name.focus();
  },
};
