// A receipt for a business fact, printed on the workstation printer.
//
// The agent is asked to print the layout for the business fact (POST /v1/print/receipt
// with `fact_id`); it has the backend sign the fact's receipt under the operator's session
// (POST /api/v1/receipts {kind, fact_id}: person and amount come from the fact, one fact
// has one receipt) and prints it with the signed QR. The print has its own
// Idempotency-Key: a retry of the same print prints nothing more.
//
// The panel shows one line of state. A failed print offers only 重新打印 (the business is
// done and is never offered again); a successful reprint replaces the error.

import { newKey } from "./api.js";
import { printReceipt } from "./agent.js";
import { describe, h, clear } from "./ui.js";

/**
 * A receipt panel for one fact. fields: the agent's layout fields without the token
 * ({layout, name, id_number, …}). Returns {element, print()}; print() resolves to the
 * printed receipt or null when it failed (the panel then shows the reprint button).
 */
export function receiptPanel({ factId, fields, what = "回执" }) {
  let printKey = newKey();
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
      const printed = await printReceipt({ receipt: fields, factId, key: printKey });
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
