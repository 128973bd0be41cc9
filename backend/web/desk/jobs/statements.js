// 对账单与缴费证明: the individual account's statement of a chosen year — a summary on the
// receipt printer (signed QR), the full statement as an A4 PDF (opening balance, entries by
// date and source, interest with its rate and convention, closing balance by source,
// pension paid) — and the contribution certificate (缴费证明) as an A4 PDF. The PDFs are made
// by the backend (backend/statements); a reprint of an unchanged document keeps its number.

import { Problem, api, session } from "../lib/api.js";
import { yuan } from "../lib/format.js";
import { receiptPanel } from "../lib/receipt.js";
import { busy, clear, empty, facts, field, h, loading, section, showProblem, table, values } from "../lib/ui.js";

// backend/accounts/models.py SOURCE_LABELS.
const SOURCES = {
  own: "个人缴费", collective: "集体补助", donation: "社会捐助", government_subsidy: "政府补贴",
  government_paid: "政府代缴", interest: "利息", transfer_in: "转入", transfer_out: "转出",
  refund: "退费", inheritance: "继承",
};

/** Fetch a PDF with the operator's session and hand it to the browser; its file name. */
async function downloadPdf(path) {
  const response = await fetch(`/api/v1${path}`, {
    headers: { Authorization: `Bearer ${session.token}`, Accept: "application/pdf" },
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({ code: "pdf_failed", title: "文档生成失败" }));
    throw new Problem(body, response.status, "backend");
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (/filename=([^;]+)/.exec(disposition) || [])[1] || "document.pdf";
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: name, target: "_blank", rel: "noopener" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

export default {
  id: "statements",
  title: "对账单",
  permissions: ["contribution:read"],
  async render(view, ctx) {
    const { person, box } = ctx;
    const thisYear = new Date().getFullYear();
    const firstYear = Math.max(2009, Number(person.birth_date.slice(0, 4)) + 16);
    const years = [];
    for (let y = thisYear; y >= firstYear; y -= 1) years.push([y, `${y} 年${y === thisYear ? "（本年，截至今日）" : ""}`]);
    const form = h("form", { id: "statement-form", novalidate: true },
      h("div", { class: "form-grid" }, field({ name: "year", label: "对账年度", kind: "select", options: years, value: thisYear - 1 })),
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "primary", id: "print-summary" }, "打印对账单摘要（收据打印机）"),
        h("button", { type: "button", id: "statement-pdf" }, "A4 对账单（PDF）"),
        h("button", { type: "button", id: "certificate-pdf" }, "缴费证明（PDF）")));
    const summary = h("div", { id: "statement-summary" }, loading());
    const result = h("div", { id: "statement-result" });
    clear(view, box, h("div", { class: "columns wide-left" },
      section("打印对账单与缴费证明", form, result), section("对账单摘要", summary)));

    let statement = null;
    async function load() {
      statement = null;
      clear(summary, loading("正在读取账户…"));
      box.hide();
      try {
        statement = await api(`/persons/${person.id}/statement`, { query: { year: values(form).year } });
      } catch (error) {
        clear(summary, empty("此人在该年度没有个人账户记录"));
        if (!(error instanceof Problem && error.status === 404)) showProblem(box, error);
        return;
      }
      clear(summary,
        facts([
          ["年初余额", `${yuan(statement.opening_fen)} 元`],
          ["本年记账", `${yuan(statement.closing_fen - statement.opening_fen)} 元`],
          ["其中利息", `${yuan(statement.interest_fen)} 元`],
          ["年末余额", h("span", { class: "money big", id: "statement-closing" }, `${yuan(statement.closing_fen)} 元`)],
        ]),
        table([
          { label: "资金来源", value: ([source]) => SOURCES[source] || "其他" },
          { label: "本年记账", value: ([, amount]) => yuan(amount), class: "money" },
        ], Object.entries(statement.credits_by_source), { empty: "本年没有记账" }));
    }

    form.year.addEventListener("change", load);
    form.querySelector("#print-summary").addEventListener("click", (event) => busy(event.target, async () => {
      if (!statement) { box.warn("该年度没有对账单可打印。"); return; }
      const receipt = receiptPanel({
        kind: "account_statement", factId: person.id, year: statement.year, what: "对账单摘要",
        fields: {
          layout: "account_statement", name: person.name, id_number: person.id_number, year: statement.year,
          opening_fen: statement.opening_fen, interest_fen: statement.interest_fen, closing_fen: statement.closing_fen,
          credits: Object.entries(statement.credits_by_source)
            .filter(([source]) => source !== "interest")
            .map(([source, amount]) => ({ label: SOURCES[source] || "其他", amount_fen: amount })),
        },
      });
      clear(result, receipt.element);
      await receipt.print();
    }));
    for (const [id, path, what] of [
      ["statement-pdf", () => `/persons/${person.id}/statements/${values(form).year}.pdf`, "A4 对账单"],
      ["certificate-pdf", () => `/persons/${person.id}/contribution-certificate.pdf`, "缴费证明"],
    ]) {
      form.querySelector(`#${id}`).addEventListener("click", (event) => busy(event.target, async () => {
        box.hide();
        try {
          const name = await downloadPdf(path());
          clear(result, h("p", { class: "message ok", id: "pdf-ready" }, `${what}已生成（${name}），请在打开的文档中打印。`));
        } catch (error) { showProblem(box, error, form); }
      }));
    }
    await load();
    form.year.focus();
  },
};
