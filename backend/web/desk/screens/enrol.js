// 参保登记: a new resident from the ID card read (F3 fills name, sex, ethnicity, birth date,
// address and ID number), the household (new or existing, by its number), the hukou village
// from the tree, the phone. Before saving, the page shows whether the person is already
// registered (search by ID number) and every enrolment rule they fail (the backend's
// eligibility check); saving registers the person, enrols them, and opens the workspace.

import { api } from "../lib/api.js";
import * as devices from "../lib/agent.js";
import { codeOptions, regionChildren } from "../lib/codes.js";
import { idNumberProblem, maskId } from "../lib/format.js";
import { searchPersons } from "../lib/identify.js";
import {
  Submission, busy, clear, clearErrors, field, fieldError, h, section, showProblem, values,
} from "../lib/ui.js";
import { idCardRead, open } from "../lib/workspace.js";

async function villageOptions() {
  // The scope's root; if it is a county, its townships; the villages of each township.
  const [root] = await regionChildren();
  if (!root) return [];
  const townships = root.level >= 4 ? [root] : await regionChildren(root.code);
  const groups = await Promise.all(townships.map(async (t) => [t, await regionChildren(t.code)]));
  return groups.flatMap(([t, villages]) => villages.map((v) => [v.code, `${t.name} ${v.name}`]));
}

export default {
  id: "enrol",
  title: "参保登记",
  permissions: ["person:write"],
  key: "F6",
  async render(view, ctx) {
    const { box } = ctx;
    const checks = h("div", { id: "enrol-checks", class: "checks-panel", "aria-live": "polite" },
      h("p", { class: "muted" }, "读身份证（F3）或填写后，这里显示重复登记与参保资格的检查结果。"));
    const village = field({ name: "hukou_region_code", label: "户籍地（村）", kind: "select", options: [["", "正在加载…"]] });
    const form = h("form", { id: "enrol-form", novalidate: true },
      h("div", { class: "form-grid" },
        field({ name: "name", label: "姓名", maxlength: 50 }),
        field({ name: "id_number", label: "身份证号码", maxlength: 18 }),
        field({ name: "phone", label: "联系电话", maxlength: 20, inputmode: "tel" }),
        // After an ID card read the clerk types only these: phone, village, household.
        village,
        field({ name: "household_number", label: "户号", maxlength: 32, hint: "已有户号则加入该户，否则新建户" }),
        field({ name: "relationship_code", label: "与户主关系", kind: "select", options: [["", "请选择"], ...codeOptions("relationship")] }),
        field({ name: "gender", label: "性别", kind: "select", options: [["", "请选择"], ...codeOptions("gender").filter(([c]) => c === "1" || c === "2")] }),
        field({ name: "ethnicity", label: "民族", kind: "select", options: [["", "请选择"], ...codeOptions("ethnicity")] }),
        field({ name: "birth_date", label: "出生日期", kind: "date" }),
        h("div", { class: "full" }, field({ name: "address", label: "住址", maxlength: 200 })),
        h("div", { class: "flags" },
          field({ name: "is_student", label: "全日制在校学生", kind: "checkbox" }),
          field({ name: "in_employee_scheme", label: "已参加职工养老保险", kind: "checkbox" }),
          field({ name: "is_civil_servant", label: "机关事业单位人员", kind: "checkbox" }))),
      h("div", { class: "buttons" },
        h("button", { type: "button", id: "enrol-read", onclick: () => fromIdCard() }, "读身份证", h("kbd", {}, "F3")),
        h("button", { type: "submit", class: "primary", id: "enrol-submit" }, "登记并参保"),
        h("span", { class: "muted" }, "Enter 提交")));
    clear(view, box, h("div", { class: "columns wide-left" }, section("新参保人", form), section("保存前检查", checks)));
    villageOptions().then((options) => {
      clear(form.hukou_region_code, h("option", { value: "" }, "请选择"), options.map(([c, n]) => h("option", { value: c }, n)));
    }).catch((error) => showProblem(box, error));

    const submission = new Submission();
    let duplicate = null;

    function fill(card) {
      form.name.value = card.name;
      form.id_number.value = card.id_number;
      form.gender.value = card.gender;
      form.ethnicity.value = card.ethnicity;
      form.birth_date.value = card.birth_date;
      form.address.value = card.address;
      runChecks();
      form.phone.focus();
    }

    async function fromIdCard() {
      box.hide();
      try {
        const card = await devices.readIdCard();
        idCardRead(card);
        fill(card);
      } catch (error) { showProblem(box, error); }
    }

    async function runChecks() {
      const v = values(form);
      const items = [];
      duplicate = null;
      if (v.id_number && !idNumberProblem(v.id_number)) {
        try {
          const page = await searchPersons({ id_number: v.id_number.toUpperCase() }, { limit: 1 });
          if (page.items.length) {
            duplicate = page.items[0];
            items.push(h("li", { class: "bad", id: "check-duplicate" }, `已登记：${duplicate.name}（${duplicate.id_number_masked || maskId(v.id_number)}），不能重复登记。`,
              h("button", { type: "button", class: "link", onclick: () => ctx.go(`#/person/${duplicate.id}`) }, "打开此人")));
          } else {
            items.push(h("li", { class: "good", id: "check-duplicate" }, "本辖区没有此身份证号码的登记，可以新登记。"));
          }
        } catch (error) { items.push(h("li", { class: "bad" }, "重复登记检查未完成，请重试。")); }
      }
      if (v.birth_date) {
        try {
          const answer = await api("/registry/eligibility", {
            method: "POST",
            body: { birth_date: v.birth_date, is_student: v.is_student, in_employee_scheme: v.in_employee_scheme, is_civil_servant: v.is_civil_servant },
          });
          if (answer.eligible) items.push(h("li", { class: "good", id: "check-eligible" }, "符合参保条件。"));
          for (const r of answer.reasons) items.push(h("li", { class: "bad", "data-rule": r.rule }, `不符合参保条件：${r.message}`));
        } catch (error) { items.push(h("li", { class: "bad" }, "参保资格检查未完成，请重试。")); }
      }
      if (v.household_number) {
        try {
          const page = await searchPersons({ household_number: v.household_number }, { limit: 10 });
          items.push(h("li", { id: "check-household" }, page.items.length
            ? `户号 ${v.household_number} 已有成员：${page.items.map((p) => p.name).join("、")}，将加入此户。`
            : `户号 ${v.household_number} 为新户号，将新建户。`));
        } catch (error) { /* the save will check the household */ }
      }
      clear(checks, items.length ? h("ul", { class: "check-list" }, items) : h("p", { class: "muted" }, "请填写身份证号码与出生日期。"));
    }

    form.addEventListener("change", (event) => {
      if (["id_number", "birth_date", "household_number", "is_student", "in_employee_scheme", "is_civil_servant"].includes(event.target.name)) runChecks();
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target.tagName !== "BUTTON" && event.target.tagName !== "TEXTAREA") {
        event.preventDefault(); form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      box.hide();
      const v = values(form);
      const problem = v.id_number ? idNumberProblem(v.id_number) : "请输入身份证号码";
      if (problem) { fieldError(form, "id_number", problem); return; }
      if (!v.name) { fieldError(form, "name", "请输入姓名"); return; }
      if (!v.hukou_region_code) { fieldError(form, "hukou_region_code", "请选择户籍所在村"); return; }
      await runChecks();
      if (duplicate) { box.warn("此人已登记，不能重复登记。"); return; }
      const body = {
        id_number: v.id_number.toUpperCase(), name: v.name, ethnicity: v.ethnicity || "",
        hukou_region_code: v.hukou_region_code, gender: v.gender, birth_date: v.birth_date,
        address: v.address, phone: v.phone, is_student: v.is_student,
        in_employee_scheme: v.in_employee_scheme, is_civil_servant: v.is_civil_servant,
        household_number: v.household_number, relationship_code: v.relationship_code,
      };
      await busy(form.querySelector("#enrol-submit"), async () => {
        try {
          const person = await api("/persons", { method: "POST", body, key: submission.keyFor(body) });
          const enrolBody = { person_id: person.id };
          try {
            await api("/enrolments", { method: "POST", body: enrolBody, key: submission.keyFor(enrolBody) });
          } catch (error) {
            // Registered but not enrolled (the rules refused): say why, offer the person.
            showProblem(box, error);
            box.append(h("p", {}, h("a", { href: `#/person/${person.id}` }, "人员信息已登记但未参保，打开此人")));
            return;
          }
          submission.done();
          await open(person.id);
          ctx.go(`#/person/${person.id}`);
        } catch (error) {
          showProblem(box, error, form);
        }
      });
    });

    const pending = sessionStorage.getItem("xnb.idcard");
    sessionStorage.removeItem("xnb.idcard");
    if (pending) fill(JSON.parse(pending)); else form.name.focus();
    view.addEventListener("desk:idcard", (event) => fill(event.detail));
  },
};
