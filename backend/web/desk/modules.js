// The one place where the desk's screens and jobs are registered (docs/pages.md).
//
// A *screen* stands on its own in the navigation (find, enrol, inbox, end of day).
// A *job* is done for the resident open in the workspace; it is a tab of the workspace.
// Each is one module exporting:
//   { id, title, permissions: [any of these], key?: "F8", render(view, ctx) }
// and, for a job, optionally available(ctx) → null or why it cannot be done for this person.
// ctx = { me, person, pension, statement, checks, box (the screen's message box), reload(), go(route) }
// To add one: write jobs/<id>.js or screens/<id>.js and add it to the list below.

import dayClose from "./screens/day-close.js";
import enrol from "./screens/enrol.js";
import find from "./screens/find.js";
import inbox from "./screens/inbox.js";

import card from "./jobs/card.js";
import change from "./jobs/change.js";
import collect from "./jobs/collect.js";
import death from "./jobs/death.js";
import overview from "./jobs/overview.js";
import pension from "./jobs/pension.js";
import refund from "./jobs/refund.js";
import statements from "./jobs/statements.js";
import survival from "./jobs/survival.js";
import transfer from "./jobs/transfer.js";

/**
 * Navigation groups, in this order; a screen names its group (default "counter"). The
 * back office, card centre and administrators of issue 13 get theirs as their screens
 * come: "payroll" (发放与银行), "policy" (政策与计息), "card_centre" (制卡中心),
 * "system" (系统管理员: 机构与操作员), "security" (安全管理员: 证书与设备), "audit"
 * (审计管理员: 审计日志). A group shows only if the operator may open one of its screens.
 */
export const GROUPS = [["counter", "柜面业务"], ["review", "复核"], ["office", "本所"]];

/** Navigation, in this order. */
export const SCREENS = [find, enrol, inbox, dayClose];

/** Workspace tabs, in this order (Alt+1 … Alt+9). */
export const JOBS = [
  overview, collect, change, refund, card, survival, statements, pension, death, transfer,
];
