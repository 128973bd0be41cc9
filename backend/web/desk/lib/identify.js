// Finding a resident: by the card in the reader (F2), the ID card on the scanner (F3), a
// typed ID number, a name, a household number. Every screen that finds someone uses these.
// Person search: POST /api/v1/persons/search (paginated, ID numbers masked).

import { api, Problem } from "./api.js";
import * as devices from "./agent.js";
import { cardChecked, idCardRead, open } from "./workspace.js";

/** Search persons. criteria: {id_number} | {name, region, birth_year} | {household_number}. */
export function searchPersons(criteria, { offset = 0, limit = 20 } = {}) {
  return api("/persons/search", { method: "POST", body: { ...criteria, offset, limit } });
}

function notFound(detail) {
  return new Problem({ code: "person_not_found", title: "没有找到此人", detail }, 404, "page");
}

/** The person with this full ID number in the operator's scope (opened), or a Problem. */
export async function findByIdNumber(idNumber) {
  const page = await searchPersons({ id_number: idNumber }, { limit: 1 });
  if (!page.items.length) throw notFound("没有此身份证号码的参保人，或此人不在本辖区");
  return open(page.items[0].id);
}

/** F2: read the card, authenticate it online, open its holder. */
export async function findByCard() {
  const { read, authenticated } = await devices.readCard();
  if (!authenticated.holder) {
    throw new Problem({ code: "holder_outside_scope", title: "此卡持卡人不在本经办机构辖区内", detail: "不能在本窗口办理" }, 404, "page");
  }
  const opened = await open(authenticated.holder.id);
  cardChecked(authenticated.holder, read.basic?.card_number);
  return { opened, authenticated };
}

/**
 * F3: read the ID card and open its holder. A person not registered yet comes back as
 * {card, person: null} so the screen can offer enrolment with the card's data.
 */
export async function findByIdCard() {
  const card = await devices.readIdCard();
  idCardRead(card);
  try {
    const opened = await findByIdNumber(card.id_number);
    idCardRead(card);
    return { card, person: opened.person };
  } catch (error) {
    if (error instanceof Problem && error.code === "person_not_found") return { card, person: null };
    throw error;
  }
}
