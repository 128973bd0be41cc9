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

/** Navigation, in this order. */
export const SCREENS = [find, enrol, inbox, dayClose];

/** Workspace tabs, in this order (Alt+1 … Alt+9). */
export const JOBS = [
  overview, collect, change, refund, card, survival, statements, pension, death, transfer,
];
