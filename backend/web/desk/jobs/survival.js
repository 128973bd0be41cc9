// 资格认证 (F8): counter survival certification of a pensioner. Possible only when in this
// visit the social security card was authenticated online (F2) and the ID card read (F3),
// both of this person, and the pension is not terminated. The receipt is printed through
// the agent; a failed print offers only 重新打印 (same keys, never a second certification);
// a second certification the same day is refused by the backend in plain words.

import { api } from "../lib/api.js";
import { receiptPanel } from "../lib/receipt.js";
import { busy, clear, facts, h, section, showProblem } from "../lib/ui.js";
import { workspace } from "../lib/workspace.js";

const DOCUMENT_LABELS = {
  social_security_card: "社会保障卡", id_card: "居民身份证",
  temporary_id_card: "临时居民身份证", household_register: "户口簿",
};
const METHOD_LABELS = { counter: "柜面认证", kiosk: "自助终端认证", data_matching: "数据比对认证", home_visit: "上门认证" };

// What this visit certified, by pension: the result stays on screen across re-renders.
const done = new Map();
// F8 on the open job certifies wherever the focus is (the shell's F8 only opens the job).
let onF8 = null;
document.addEventListener("keydown", (event) => {
  if (event.key === "F8" && onF8 && /\/survival$/.test(location.hash)) { event.preventDefault(); onF8(); }
});

function blocker(ctx) {
  const { person, pension, checks } = ctx;
  if (!pension) return "此人没有养老金待遇，无需资格认证。";
  if (pension.status === "terminated") return "待遇已终止，不能认证。";
  if (done.has(pension.id)) return "本次已办理资格认证。";
  if (checks.card?.id_number !== person.id_number) return "请插入此人的社保卡并按 F2 在线认证。";
  if (checks.idCard?.id_number !== person.id_number) return "请将此人的居民身份证放在阅读器上并按 F3 读取。";
  return null;
}

export default {
  id: "survival",
  title: "资格认证",
  permissions: ["survival:certify"],
  key: "F8",
  available(ctx) {
    if (!ctx.pension) return "此人没有养老金待遇，无需资格认证。";
    return null;
  },
  async render(view, ctx) {
    const { person, pension, box } = ctx;
    const today = new Date().toISOString().slice(0, 10);
    const overdue = pension.certified_until && pension.certified_until < today;
    const hint = h("p", { id: "certify-hint", class: "hint", role: "status" });
    const button = h("button", { type: "button", class: "primary", id: "certify" }, "办理资格认证（F8）");
    const result = h("div", { id: "certify-result" });
    clear(view, box, h("div", { class: "columns wide-left" },
      section("柜面资格认证",
        facts([
          ["认证有效期至", h("span", { id: "certified-until", class: overdue ? "status-bad" : "" },
            pension.certified_until || "—", overdue ? "（已逾期）" : "")],
          ["社保卡", h("span", { class: ctx.checks.card?.id_number === person.id_number ? "status-ok" : "status-warn" },
            ctx.checks.card?.id_number === person.id_number ? "本次已在线认证" : "未认证")],
          ["居民身份证", h("span", { class: ctx.checks.idCard?.id_number === person.id_number ? "status-ok" : "status-warn" },
            ctx.checks.idCard?.id_number === person.id_number ? "本次已读取" : "未读取")],
        ]),
        hint, h("div", { class: "buttons" }, button)),
      section("认证结果", result)));

    function refresh() {
      const why = blocker({ ...ctx, checks: workspace.checks });
      button.disabled = Boolean(why);
      hint.textContent = why || "社保卡与身份证均已核验，可以办理柜面资格认证。";
    }

    function showCertified(certification) {
      const resumed = certification.resumed ? "，暂停的待遇已恢复发放（补发随下次发放）" : "";
      const seen = certification.documents_seen.map((d) => DOCUMENT_LABELS[d] || "其他证件").join("、");
      const receipt = done.get(pension.id).receipt;
      clear(result,
        h("p", { class: "message ok", id: "certified" },
          `资格认证成功：${certification.certified_on}，${METHOD_LABELS[certification.method] || "柜面认证"}，`
          + `核验证件 ${seen}${resumed}。下次认证截止日期 ${certification.next_due}。`),
        receipt.element);
    }

    if (done.has(pension.id)) showCertified(done.get(pension.id).certification);
    refresh();

    const key = crypto.randomUUID();
    async function certify() {
      if (blocker({ ...ctx, checks: workspace.checks })) return;
      box.hide();
      await busy(button, async () => {
        try {
          const certification = await api(`/benefits/pensions/${person.id}/certifications`, {
            method: "POST", key,
            body: { method: "counter", documents_seen: ["social_security_card", "id_card"] },
          });
          const receipt = receiptPanel({
            kind: "survival", factId: certification.id, what: "认证回执",
            fields: { layout: "survival", name: person.name, id_number: person.id_number,
              method: "柜面认证", valid_until: certification.next_due },
          });
          done.set(pension.id, { certification, receipt });
          showCertified(certification);
          await ctx.reload();
          await receipt.print();
        } catch (error) { showProblem(box, error); }
      });
      refresh();
    }
    button.addEventListener("click", certify);
    onF8 = certify;
    if (!button.disabled) button.focus();
  },
};
