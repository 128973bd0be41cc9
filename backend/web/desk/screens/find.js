// 查找参保人: by card (F2), ID card (F3), full ID number, name (narrowed by region and
// birth year), household number; and the residents served recently in this log-in.

import { readCardKey, readIdCardKey } from "../app.js";
import { canAny } from "../lib/api.js";
import { regionChildren, regionPath, codeName } from "../lib/codes.js";
import { idNumberProblem, maskId } from "../lib/format.js";
import { findByIdNumber, searchPersons } from "../lib/identify.js";
import {
  busy, clear, clearErrors, empty, field, fieldError, h, loading, showProblem, table, values,
} from "../lib/ui.js";
import { recent } from "../lib/workspace.js";

const PAGE = 20;

const PREFIX_DIGITS = { 1: 2, 2: 4, 3: 6, 4: 9, 5: 12 };
const prefixOf = (region) => region.code.slice(0, PREFIX_DIGITS[region.level] || 12);

/** The scope's root and the level below it, as [search prefix, name]. */
async function regionOptions() {
  const [root] = await regionChildren();
  if (!root) return [];
  const below = await regionChildren(root.code);
  return [[prefixOf(root), `${root.name}（全部）`], ...below.map((r) => [prefixOf(r), r.name])];
}

function resultsTable(page, ctx) {
  const rows = page.items;
  const openRow = (row) => ctx.go(`#/person/${row.id}`);
  const regionCell = (row) => {
    const span = h("span", {}, "…");
    regionPath(row.hukou_region_code).then((text) => { span.textContent = text; });
    return span;
  };
  return table([
    { label: "姓名", value: (r) => r.name },
    { label: "身份证号码", value: (r) => r.id_number_masked || maskId(r.id_number), class: "idno" },
    { label: "性别", value: (r) => codeName("gender", r.gender) },
    { label: "出生日期", value: (r) => r.birth_date },
    { label: "户籍地", value: regionCell },
    { label: "参保状态", value: (r) => (r.enrolment_status ? codeName("enrolment_status", r.enrolment_status) : "未参保") },
  ], rows, {
    empty: "没有符合条件的参保人（或不在本辖区）",
    caption: `共 ${page.total} 人${page.total > rows.length ? `，显示第 ${page.offset + 1}–${page.offset + rows.length} 人` : ""}（按 Enter 打开）`,
    rowAttrs: (row) => ({
      tabindex: "0", dataset: { personId: row.id },
      onclick: () => openRow(row),
      onkeydown: (event) => { if (event.key === "Enter") openRow(row); },
    }),
  });
}

export default {
  id: "find",
  title: "查找参保人",
  permissions: ["person:read"],
  key: "F4",
  async render(view, ctx) {
    const { box } = ctx;
    const results = h("div", { id: "find-results", "aria-live": "polite" });

    const byId = h("form", { id: "find-id", class: "inline", novalidate: true },
      field({ name: "id_number", label: "身份证号码", maxlength: 18, inputmode: "text", autofocus: true }),
      h("button", { type: "submit", class: "primary" }, "查询"));
    const regions = h("select", { name: "region", id: "find-region" }, h("option", { value: "" }, "本辖区"));
    const byName = h("form", { id: "find-name", class: "inline", novalidate: true },
      field({ name: "name", label: "姓名", maxlength: 50 }),
      h("div", { class: "field" }, h("label", { for: "find-region" }, "地区"), regions, h("p", { class: "field-error", "data-for": "region" })),
      field({ name: "birth_year", label: "出生年份", maxlength: 4, inputmode: "numeric", size: 6 }),
      h("button", { type: "submit" }, "按姓名查"));
    const byHousehold = h("form", { id: "find-household", class: "inline", novalidate: true },
      field({ name: "household_number", label: "户号", maxlength: 32 }),
      h("button", { type: "submit" }, "按户号查"));
    regionOptions().then((options) => {
      clear(regions, options.map(([code, name]) => h("option", { value: code }, name)));
    }).catch(() => { /* the default "本辖区" stays */ });

    const recentList = recent();
    const recentBlock = h("section", { class: "block", id: "recent" }, h("h3", {}, "最近办理"),
      recentList.length
        ? h("ul", { class: "recent" }, recentList.map((r) => h("li", {},
          h("a", { href: `#/person/${r.id}` }, r.name), h("span", { class: "muted" }, ` 尾号 ${r.tail}`))))
        : empty("本次登录还没有办理过业务"));

    clear(view, box,
      h("div", { class: "buttons find-devices" },
        canAny(["card:authenticate"]) ? h("button", { type: "button", id: "swipe-card", class: "primary", onclick: readCardKey }, "刷社保卡", h("kbd", {}, "F2")) : null,
        h("button", { type: "button", id: "read-idcard", onclick: readIdCardKey }, "读身份证", h("kbd", {}, "F3"))),
      h("div", { class: "find-forms" }, byId, byName, byHousehold),
      h("div", { class: "columns find-columns" }, results, recentBlock));

    async function run(form, criteria, offset = 0, wider = null) {
      box.hide();
      clear(results, loading("正在查询…"));
      try {
        let page = await searchPersons(criteria, { offset, limit: PAGE });
        if (!page.total && wider) { criteria = wider; page = await searchPersons(criteria, { offset, limit: PAGE }); }
        if (criteria.id_number && page.items.length === 1) { ctx.go(`#/person/${page.items[0].id}`); return; }
        clear(results, resultsTable(page, ctx), pager(page, (next) => run(form, criteria, next)));
        const first = results.querySelector("tbody tr");
        if (first) first.focus();
      } catch (error) {
        clear(results);
        showProblem(box, error, form);
      }
    }

    byId.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(byId);
      const value = (byId.id_number.value || "").trim().toUpperCase();
      const problem = idNumberProblem(value);
      if (problem) { fieldError(byId, "id_number", problem); return; }
      await busy(byId.querySelector("button"), async () => {
        box.hide();
        clear(results, loading("正在查询…"));
        try {
          const opened = await findByIdNumber(value);
          ctx.go(`#/person/${opened.person.id}`);
        } catch (error) {
          clear(results);
          showProblem(box, error, byId);
        }
      });
    });
    byName.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(byName);
      const { name, region, birth_year: year } = values(byName);
      if (!name) { fieldError(byName, "name", "请输入姓名"); return; }
      if (year && !/^(19|20)\d\d$/.test(year)) { fieldError(byName, "birth_year", "请输入四位年份，如 1958"); return; }
      // The whole name first (an indexed lookup); with nobody of that exact name and the
      // search narrowed (village or birth year), the names that start so.
      const narrowed = Boolean(year) || (region && region.length >= 12);
      const criteria = { name, region, birth_year: year ? Number(year) : null, name_match: "exact" };
      await busy(byName.querySelector("button"), () => run(byName, criteria, 0, narrowed ? { ...criteria, name_match: "prefix" } : null));
    });
    byHousehold.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(byHousehold);
      const { household_number: number } = values(byHousehold);
      if (!number) { fieldError(byHousehold, "household_number", "请输入户号"); return; }
      await busy(byHousehold.querySelector("button"), () => run(byHousehold, { household_number: number }));
    });
    byId.id_number.focus();
  },
};

function pager(page, goTo) {
  if (page.total <= page.limit) return null;
  const last = page.offset + page.items.length;
  return h("div", { class: "pager" },
    h("button", { type: "button", disabled: page.offset === 0, onclick: () => goTo(Math.max(0, page.offset - page.limit)) }, "上一页"),
    h("span", { class: "muted" }, `第 ${Math.floor(page.offset / page.limit) + 1} 页`),
    h("button", { type: "button", disabled: last >= page.total, onclick: () => goTo(last) }, "下一页"));
}
