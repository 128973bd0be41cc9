// 概况: the resident at a glance — the account this year, and the pension with every
// computation part by part and its policy version.

import { api, optional } from "../lib/api.js";
import { LABELS, yuan } from "../lib/format.js";
import { clear, empty, facts, h, loading, section, table } from "../lib/ui.js";
import { currentEnrolment } from "../lib/workspace.js";

function month(date) { return date ? date.slice(0, 7) : "—"; }

export default {
  id: "overview",
  title: "概况",
  permissions: ["person:read"],
  async render(view, ctx) {
    const { pension, statement, box } = ctx;
    const body = h("div", {}, loading());
    clear(view, box, body);
    const account = statement
      ? facts([
        ["对账年度", `${statement.year} 年`],
        ["年初余额", `${yuan(statement.opening_fen)} 元`],
        ["本年记入", `${yuan(statement.closing_fen - statement.opening_fen)} 元`],
        ["年末余额", h("span", { class: "money" }, `${yuan(statement.closing_fen)} 元`)],
      ])
      : empty("没有个人账户记录");
    if (!pension) {
      // One consistent statement: an enrolment marked "receiving" without a pension is a
      // data fault to be checked, not "not receiving".
      const receiving = currentEnrolment(ctx.person)?.status === "receiving";
      clear(body, section("个人账户", account), section("养老金待遇", receiving
        ? h("p", { class: "status-warn", id: "pension-missing" }, "参保状态为领取待遇，但没有此人的养老金核定记录，请报县级经办机构核查。")
        : empty("未领取养老金待遇")));
      return;
    }
    const versions = new Map();
    await Promise.all([...new Set(pension.computations.map((c) => c.policy_version_id))].map(async (id) => {
      versions.set(id, await optional(api(`/policy/versions/${id}`)));
    }));
    const todayText = new Date().toISOString().slice(0, 10);
    const overdue = pension.certified_until && pension.certified_until < todayText;
    clear(body,
      section("个人账户", account),
      section("养老金待遇",
        facts([
          ["待遇状态", h("span", { id: "pen-status", class: pension.status === "receiving" ? "status-ok" : "status-warn" },
            LABELS.pension[pension.status] || "其他", pension.status_reason ? `（${pension.status_reason}）` : "")],
          ["月养老金", h("span", { id: "pen-monthly", class: "money big" }, `${yuan(pension.monthly_fen)} 元`)],
          ["认证有效期至", h("span", { id: "pen-due", class: overdue ? "status-bad" : "" },
            pension.certified_until || "—", overdue ? "（已逾期，请办理认证）" : "")],
          ["已发放至", month(pension.paid_through)],
        ]),
        table([
          { label: "起始月份", value: (c) => `${month(c.from_month)}${c.cause === "award" ? "（核定）" : "（调整）"}` },
          { label: "基础养老金", value: (c) => yuan(c.minimum_fen), class: "money" },
          { label: "地方加发", value: (c) => yuan(c.topup_fen), class: "money" },
          { label: "长缴加发", value: (c) => [yuan(c.bonus_fen), h("span", { class: "formula" }, `缴费 ${c.contribution_years} 年`)], class: "money" },
          { label: "个人账户养老金", value: (c) => [yuan(c.account_fen), h("span", { class: "formula" }, `${yuan(c.balance_fen)} ÷ ${c.divisor}`)], class: "money" },
          { label: "合计", value: (c) => yuan(c.total_fen), class: "money" },
          { label: "政策版本", value: (c) => { const v = versions.get(c.policy_version_id); return v ? `${v.name}（${v.valid_from} 起）` : "—"; } },
        ], pension.computations, { caption: "养老金核定明细（按月，元）", empty: "没有核定记录" })));
  },
};
