// The resident workspace: the person the clerk is serving stays open while several jobs
// are done for them. It loads everything the header card shows (person, household,
// enrolment, pending changes, account balance, pension) and reloads after each job.
// Recently served residents are kept for this log-in only (sessionStorage, cleared at
// log-out: the workstation is shared).

import { api, optional, can } from "./api.js";

const RECENT_KEY = "xnb.recent";
const listeners = [];

export const workspace = {
  person: null, // PersonDetail (GET /persons/{id}) + extras below
  pension: null, // PensionOut or null
  statement: null, // this year's StatementOut or null
  checks: { card: null, idCard: null }, // what this visit proved: card holder / ID card read
};

export function onChange(callback) { listeners.push(callback); }

function changed() { for (const callback of listeners) callback(workspace); }

/** Open (or reload) the workspace on a person. */
export async function open(personId) {
  const year = new Date().getFullYear();
  const [person, statement, pension] = await Promise.all([
    api(`/persons/${personId}`),
    can("contribution:read") || can("benefit:read")
      ? optional(api(`/persons/${personId}/statement`, { query: { year } }))
      : null,
    can("benefit:read") ? optional(api(`/benefits/pensions/${personId}`)) : null,
  ]);
  if (workspace.person?.id !== person.id) {
    // Another resident: what was proved for the previous one does not carry over.
    if (workspace.checks.card?.id_number !== person.id_number) workspace.checks.card = null;
    if (workspace.checks.idCard?.id_number !== person.id_number) workspace.checks.idCard = null;
  }
  workspace.person = person;
  workspace.statement = statement;
  workspace.pension = pension;
  remember(person);
  changed();
  return workspace;
}

export function reload() {
  return workspace.person ? open(workspace.person.id) : Promise.resolve(workspace);
}

export function close() {
  workspace.person = null;
  workspace.pension = null;
  workspace.statement = null;
  workspace.checks = { card: null, idCard: null };
  changed();
}

/** The social security card authenticated online in this visit (agent's answer). */
export function cardChecked(holder, cardNumber) {
  workspace.checks.card = holder ? { ...holder, card_number: cardNumber } : null;
  changed();
}

/** The ID card read in this visit (the agent's IdCard). */
export function idCardRead(card) {
  workspace.checks.idCard = card;
  changed();
}

function remember(person) {
  const entry = { id: person.id, name: person.name, tail: person.id_number.slice(-4), at: Date.now() };
  const list = recent().filter((r) => r.id !== person.id);
  list.unshift(entry);
  sessionStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, 12)));
}

export function recent() {
  try { return JSON.parse(sessionStorage.getItem(RECENT_KEY) || "[]"); } catch (_) { return []; }
}

export function forget() { sessionStorage.removeItem(RECENT_KEY); close(); }

/** The current enrolment (the one not ended, else the latest). */
export function currentEnrolment(person = workspace.person) {
  const list = person?.enrolments || [];
  return list.find((e) => !e.ended_on) || list[0] || null;
}

export function pendingChanges(person = workspace.person) {
  return (person?.changes || []).filter((c) => c.status === "pending");
}
