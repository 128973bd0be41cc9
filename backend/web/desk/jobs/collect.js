// 缴费收款: assess a year (this year, or a past one as 补缴) at a chosen grade and take the
// cash; each grade shows what the resident pays and what the government adds (the
// backend's quote, same rules as the assessment); hardship payers marked; the receipt
// with its signed QR printed on the workstation printer.

import { api } from "../lib/api.js";
import { yuan } from "../lib/format.js";
import { receiptPanel } from "../lib/receipt.js";
import {
  Submission, busy, clear, clearErrors, describe, field, h, loading, section, showProblem, table, values,
} from "../lib/ui.js";
import { currentEnrolment } from "../lib/workspace.js";

function yearStatus(a) {
  if (a.paid_fen >= a.own_due_fen) return h("span", { class: "status-ok" }, "已缴清");
  if (a.paid_fen > 0) return h("span", { class: "status-warn" }, `已缴 ${yuan(a.paid_fen)} 元`);
  return h("span", { class: "status-warn" }, "未缴");
}

export default {
  id: "collect",
  title: "缴费收款",
  permissions: ["contribution:collect"],
  key: "F5",
  available(ctx) {
    const enrolment = currentEnrolment(ctx.person);
    if (!enrolment || enrolment.status !== "paying") return "此人当前不在参保缴费状态，不能核定缴费。";
    return null;
  },
  async render(view, ctx) {
    const { person, box } = ctx;
    const history = h("div", { id: "years" }, loading("正在读取缴费记录…"));
    const grades = h("div", { id: "grades", class: "grades" }, loading("正在试算…"));
    const thisYear = new Date().getFullYear();
    const firstYear = Math.max(2009, Number(person.birth_date.slice(0, 4)) + 16, thisYear - 15);
    const years = [];
    for (let y = thisYear; y >= firstYear; y -= 1) years.push([y, y === thisYear ? `${y}（本年度）` : `${y}（补缴）`]);
    const hardship = field({ name: "hardship_group", label: "困难群体代缴", kind: "select", options: [["", "否"]] });
    const form = h("form", { id: "collect-form", novalidate: true },
      h("div", { class: "form-grid" },
        field({ name: "year", label: "缴费年度", kind: "select", options: years, value: thisYear }),
        hardship,
        h("div", { class: "field" }, h("label", {}, "应收现金"), h("p", { id: "collect-due", class: "money big" }, "—"))),
      grades,
      h("div", { class: "buttons" },
        h("button", { type: "submit", class: "primary", id: "collect-submit" }, "核定并收取现金"),
        h("span", { class: "muted" }, "Enter 提交；收款后自动打印收据")));
    const result = h("div", { id: "collect-result" });
    clear(view, box, h("div", { class: "columns wide-left" },
      section("核定与收款", form, result), section("历年缴费", history)));

    const assessing = new Submission();
    const collecting = new Submission();
    let quote = null;

    async function loadHistory() {
      try {
        const list = await api(`/persons/${person.id}/assessments`);
        const open = (a) => a.paid_fen < a.own_due_fen;
        clear(history, table([
          { label: "年度", value: (a) => `${a.year}${a.is_make_up ? "（补缴）" : ""}` },
          { label: "档次", value: (a) => yuan(a.grade_fen), class: "money" },
          { label: "个人应缴", value: (a) => yuan(a.own_due_fen), class: "money" },
          { label: "政府补贴", value: (a) => yuan(a.government_subsidy_fen), class: "money" },
          { label: "代缴", value: (a) => (a.hardship_paid_fen ? yuan(a.hardship_paid_fen) : "—"), class: "money" },
          { label: "状态", value: (a) => [yearStatus(a), open(a) ? h("button", { type: "button", class: "link", onclick: () => collectOpen(a) }, "收款") : null] },
        ], [...list].reverse(), { empty: "还没有缴费记录" }));
      } catch (error) { clear(history); showProblem(box, error); }
    }

    function renderGrades() {
      if (!quote) return;
      const current = values(form).grade_fen;
      const choice = current && quote.options.some((o) => String(o.grade_fen) === current) ? current : String(quote.options[0].grade_fen);
      clear(grades, h("fieldset", { class: "field radios grade-list", "data-name": "grade_fen" },
        h("legend", {}, `缴费档次（${quote.make_up ? "补缴年度不享受政府补贴" : "政府补贴随档次提高"}）`),
        quote.options.map((o) => h("label", { class: "radio grade" },
          h("input", { type: "radio", name: "grade_fen", value: o.grade_fen, checked: String(o.grade_fen) === choice }),
          h("b", {}, `${yuan(o.grade_fen)} 元`),
          h("span", { class: "note" },
            `个人 ${yuan(o.own_due_fen)}`,
            o.hardship_paid_fen ? ` 代缴 ${yuan(o.hardship_paid_fen)}` : "",
            ` 补贴 ${yuan(o.government_subsidy_fen)}`))),
        h("p", { class: "field-error", "data-for": "grade_fen" })));
      showDue();
    }

    function showDue() {
      if (!quote) return;
      const chosen = quote?.options.find((o) => String(o.grade_fen) === values(form).grade_fen);
      form.querySelector("#collect-due").textContent = chosen ? `${yuan(chosen.own_due_fen)} 元` : "—";
    }

    async function loadQuote({ keepMessage = false } = {}) {
      clearErrors(form);
      if (!keepMessage) box.hide();
      clear(grades, loading("正在试算…"));
      const { year, hardship_group: group } = values(form);
      try {
        quote = await api("/contributions/quote", { query: { person_id: person.id, year, hardship_group: group } });
        const select = form.hardship_group;
        if (select.options.length === 1) {
          for (const g of quote.hardship_groups) select.append(h("option", { value: g.code }, g.label));
        }
        renderGrades();
      } catch (error) {
        // Why this year cannot be assessed, next to the year (the message box keeps the
        // result of the last collection).
        quote = null;
        const { text } = describe(error);
        clear(grades, h("p", { class: "field-error", id: "quote-problem" }, error.detail && /[\u4e00-\u9fff]/.test(error.detail) ? error.detail : text));
        form.querySelector("#collect-due").textContent = "—";
      }
    }

    async function takeCash(assessment) {
      const body = { assessment_id: assessment.id };
      const collection = await api("/contributions/collections", { method: "POST", body, key: collecting.keyFor(body) });
      collecting.done();
      assessing.done();
      box.ok(`已收取 ${assessment.year} 年度个人缴费 ${yuan(collection.amount_fen)} 元，收据号 ${collection.receipt_no}。`);
      const receipt = receiptPanel({
        factId: collection.id,
        what: "收据",
        fields: {
          layout: "contribution", name: person.name, id_number: person.id_number,
          contribution_year: assessment.year, grade_fen: assessment.grade_fen,
          amount_fen: collection.amount_fen,
        },
      });
      clear(result, receipt.element);
      await Promise.all([loadHistory(), ctx.reload()]);
      await receipt.print();
    }

    async function collectOpen(assessment) {
      box.hide();
      try { await takeCash(assessment); } catch (error) { showProblem(box, error, form); }
    }

    form.addEventListener("change", (event) => {
      if (event.target.name === "year" || event.target.name === "hardship_group") loadQuote();
      else showDue();
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target.tagName !== "BUTTON") { event.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (!quote) { await loadQuote(); return; }
      const v = values(form);
      const body = { person_id: person.id, year: Number(v.year), grade_fen: Number(v.grade_fen) };
      if (v.hardship_group) body.hardship_group = v.hardship_group;
      await busy(form.querySelector("#collect-submit"), async () => {
        try {
          // A retry after a failed collection gets the first assessment back (same key).
          const assessment = await api("/contributions/assessments", { method: "POST", body, key: assessing.keyFor(body) });
          if (assessment.own_due_fen === 0) {
            assessing.done();
            box.ok(`${assessment.year} 年度已核定，个人缴费全部由政府代缴，无需收取现金。`);
            await Promise.all([loadHistory(), ctx.reload()]);
          } else {
            await takeCash(assessment);
          }
          quote = null;
          await loadQuote({ keepMessage: true });
        } catch (error) {
          showProblem(box, error, form);
          // An assessment may stand without its cash (a refused collection): shown with 收款.
          loadHistory();
        }
      });
    });

    await Promise.all([loadHistory(), loadQuote()]);
    form.year.focus();
  },
};
