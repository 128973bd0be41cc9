// A receipt for a business fact, printed on the workstation printer.
//
// 1. The backend signs the receipt of the fact (POST /api/v1/receipts {kind, fact_id});
//    it reads the person and the amount from the fact itself, and gives the same receipt
//    again for the same fact.
// 2. The agent prints the layout with that token (POST /v1/print/receipt, its own
//    Idempotency-Key: a retry of the same print prints nothing more).
//
// The panel shows one line of state. A failed print offers only 重新打印 (the business is
// done and is never offered again); a successful reprint replaces the error.

import { api, newKey } from "./api.js";
import { printReceipt } from "./agent.js";
import { describe, h, clear } from "./ui.js";

/**
 * A receipt panel for one fact. fields: the agent's layout fields without the token
 * ({layout, name, id_number, …}). Returns {element, print()}; print() resolves to the
 * printed receipt or null when it failed (the panel then shows the reprint button).
 */
export function receiptPanel({ kind, factId, year, fields, what = "回执" }) {
  const signKey = newKey();
  let printKey = newKey();
  let token = null;
  const line = h("p", { class: "receipt-line", role: "status" });
  const support = h("p", { class: "support" });
  const again = h("button", { type: "button", class: "reprint", hidden: true }, `重新打印${what}`);
  const element = h("div", { class: "receipt-panel" }, line, support, again);

  async function print() {
    again.hidden = true;
    line.className = "receipt-line";
    line.textContent = `正在打印${what}…`;
    support.textContent = "";
    try {
      if (!token) {
        const signed = await api("/receipts", {
          method: "POST", key: signKey,
          body: year ? { kind, fact_id: factId, year } : { kind, fact_id: factId },
        });
        token = signed.token;
      }
      const printed = await printReceipt({ receipt: fields, token, key: printKey });
      line.className = "receipt-line ok";
      line.textContent = `${what}已打印，编号 ${printed.receipt_number}。`;
      element.dataset.receiptNumber = printed.receipt_number;
      again.hidden = true;
      return printed;
    } catch (error) {
      const { text, support: code } = describe(error);
      line.className = "receipt-line error";
      line.textContent = `${what}未能打印：${text}。业务已办结，请处理打印机后按“重新打印”，不要重复办理。`;
      support.textContent = code ? `详情：${code}` : "";
      again.hidden = false;
      again.focus();
      return null;
    }
  }

  again.addEventListener("click", async () => {
    again.disabled = true;
    try { await print(); } finally { again.disabled = false; }
  });
  return { element, print, reset() { printKey = newKey(); clear(line); } };
}
