// 复核待办: every pending item of the reviewer's scope (GET /api/v1/inbox: changes, refunds,
// pension applications, deaths, payee account changes, double pensions), with the maker and before/after; approve
// or reject with a reason at the owning endpoint (sent in the body field the item names;
// the backend keeps and audits it). The maker's own items are shown but cannot be decided
// by the maker (the backend refuses it too).

import { api, session } from "../lib/api.js";
import { codeName, regionPath } from "../lib/codes.js";
import { LABELS, dateTime, maskAccount, yuan } from "../lib/format.js";
import { Submission, busy, clear, empty, h, loading, showProblem } from "../lib/ui.js";

const KINDS = {
  person_change: "信息变更", refund: "退费申请", benefit_application: "待遇申请",
  death: "死亡登记", double_pension: "重复领取核查", payee_account_change: "发放账户变更",
};
const FIELD_NAMES = {
  ...LABELS.changeField, refund_reason: "退费原因", year: "年度", start_month: "起始月份",
  contribution_years: "缴费年限", died_on: "死亡日期", death_source: "信息来源",
  evidence_kind: "证明材料", evidence_number: "证明编号", reported_by: "报告人", relationship: "与死者关系",
};
const VALUES = {
  refund_reason: { duplicate: "重复缴费", employee_overlap: "已参加职工养老保险" },
  death_source: { counter: "柜面报告", public_security: "公安户籍", civil_affairs: "民政", cremation: "火化信息" },
  evidence_kind: {
    death_certificate: "居民死亡医学证明", cremation_certificate: "火化证明",
    household_cancellation: "户籍注销证明", other: "其他证明",
  },
};

async function shown(change) {
  const one = async (value) => {
    if (value === null || value === undefined) return "—";
    if (change.field === "hukou_region_code") return regionPath(value);
    if (change.field === "ethnicity") return codeName("ethnicity", value);
    if (change.field === "bank_account") return maskAccount(value);
    if (change.field === "bank_code") return codeName("bank", value);
    if (VALUES[change.field]) return VALUES[change.field][value] || "其他";
    return value;
  };
  const [before, after] = await Promise.all([one(change.before), one(change.after)]);
  const label = FIELD_NAMES[change.field] || "其他";
  return change.before === null ? `${label}：${after}` : `${label}：${before} → ${after}`;
}

export default {
  id: "inbox",
  title: "复核待办",
  group: "review",
  permissions: ["change:approve", "refund:approve", "benefit:approve"],
  key: "F7",
  async render(view, ctx) {
    const { box } = ctx;
    const list = h("div", { id: "inbox-list" }, loading("正在读取待办…"));
    clear(view, box, h("h2", {}, "复核待办"), list);

    async function load() {
      try {
        const inbox = await api("/inbox");
        if (!inbox.items.length) { clear(list, empty("没有待复核的事项")); return; }
        const rows = await Promise.all(inbox.items.map(async (item) => ({ item, text: await Promise.all(item.changes.map(shown)) })));
        clear(list, h("table", { class: "grid inbox" },
          h("caption", {}, `共 ${inbox.total} 项待复核`),
          h("thead", {}, h("tr", {}, ["类型", "参保人", "内容", "经办人", "提交时间", "处理"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, rows.map(({ item, text }) => row(item, text)))));
      } catch (error) { clear(list); showProblem(box, error); }
    }

    function row(item, text) {
      const reason = h("input", { name: "reason", placeholder: "审核意见（驳回时必填）", maxlength: 200, "aria-label": "审核意见" });
      const submission = new Submission();
      const decide = async (approve, button) => {
        box.hide();
        const note = reason.value.trim();
        if (!approve && !note) { box.warn("驳回须填写原因。"); reason.focus(); return; }
        const field = approve ? item.approve_reason_field : item.reject_reason_field;
        const body = field && note ? { [field]: note } : {};
        const path = approve ? item.approve_path : item.reject_path;
        await busy(button, async () => {
          try {
            await api(path, { method: "POST", body, key: submission.keyFor({ path, body }) });
            const said = note ? `，${approve ? "意见" : "原因"}：${note}` : "";
            box.ok(`已${approve ? "通过" : "驳回"}：${KINDS[item.kind] || "事项"}（${item.person_name}）${said}。`);
            await load();
          } catch (error) { showProblem(box, error); }
        });
      };
      const own = item.mine || item.maker_id === session.me.operator_id;
      const actions = own
        ? h("span", { class: "muted" }, "本人经办，须由其他复核员审核")
        : h("div", { class: "decide" }, reason,
          h("button", { type: "button", class: "primary", onclick: (e) => decide(true, e.currentTarget) }, "通过"),
          h("button", { type: "button", class: "danger", onclick: (e) => decide(false, e.currentTarget) }, "驳回"));
      return h("tr", { dataset: { kind: item.kind, id: item.id } },
        h("td", {}, KINDS[item.kind] || "其他"),
        h("td", {}, h("a", { href: `#/person/${item.person_id}` }, item.person_name)),
        h("td", {}, text.map((t) => h("div", {}, t)),
          item.amount_fen !== null && item.kind === "refund" ? h("div", {}, `金额：${yuan(item.amount_fen)} 元`) : null,
          item.note ? h("div", { class: "muted" }, `说明：${item.note}`) : null),
        h("td", {}, item.maker_name || "系统"),
        h("td", {}, dateTime(item.created_at)),
        h("td", {}, actions));
    }
    await load();
  },
};
