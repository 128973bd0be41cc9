// Formatting and the words people see: money in yuan from integer fen, masks, labels.
// One place for every code → Chinese label the desk shows.

export function yuan(fen) {
  if (fen === null || fen === undefined) return "—";
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100).toLocaleString("zh-CN")}.${String(abs % 100).padStart(2, "0")}`;
}

/** Yuan typed by a person ("100", "100.5", "1,000.00") → integer fen, or null. */
export function parseYuan(text) {
  const value = String(text).replace(/[,，\s]/g, "");
  if (!/^\d+(\.\d{1,2})?$/.test(value)) return null;
  const [whole, part = ""] = value.split(".");
  return Number(whole) * 100 + Number(part.padEnd(2, "0"));
}

export function maskId(id) { return id ? `${id.slice(0, 6)}********${id.slice(-4)}` : ""; }

export function maskAccount(account) {
  return account ? account.replace(/^(\d{4})\d+(\d{4})$/, "$1 **** $2") : "";
}

export function today() {
  const now = new Date();
  const local = new Date(now.getTime() - now.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 10);
}

export function dateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** GB 11643: what is wrong with a typed ID number, or null (checked before asking the backend). */
export function idNumberProblem(raw) {
  const value = String(raw).trim().toUpperCase();
  if (value.length !== 18) return `身份证号码应为18位，实际为${value.length}位`;
  if (!/^\d{17}[\dX]$/.test(value)) return "身份证号码前17位必须是数字，末位是数字或X";
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  let total = 0;
  for (let i = 0; i < 17; i += 1) total += Number(value[i]) * weights[i];
  const expected = "10X98765432"[total % 11];
  if (value[17] !== expected) return `身份证号码校验位错误（应为${expected}）`;
  return null;
}

export const LABELS = {
  // Code tables owned by the backend (ethnicity, relationship, gender, enrolment status)
  // come from GET /api/v1/registry/codes at log-in: see codes.js.
  pension: { receiving: "正常领取", suspended: "暂停发放", terminated: "终止发放" },
  change: { pending: "待复核", approved: "已通过", rejected: "已驳回", applied: "已生效" },
  changeField: {
    name: "姓名", id_number: "身份证号码", birth_date: "出生日期", hukou_region_code: "户籍地",
    phone: "联系电话", address: "住址", ethnicity: "民族", gender: "性别",
    is_student: "在校学生", in_employee_scheme: "参加职工养老保险", is_civil_servant: "机关事业单位人员",
    bank_account: "发放账户", bank_code: "开户银行",
  },
  device: {
    ready: "就绪", no_reader: "未连接", no_card: "就绪", service_not_running: "服务未运行",
    unavailable: "不可用", paper_out: "缺纸", disconnected: "未连接", online: "在线",
    offline: "无法连接",
  },
  event: {
    "card.inserted": "社保卡已插入", "card.removed": "社保卡已拔出",
    "idcard.present": "身份证已放置", "idcard.read": "身份证已读取",
    "printer.paper_out": "打印机缺纸", "printer.paper_back": "打印纸已装好",
    "printer.printed": "回执已打印", "outbox.replayed": "离线业务已补传",
  },
};

export function label(kind, code) {
  if (code === null || code === undefined || code === "") return "—";
  return (LABELS[kind] && LABELS[kind][code]) || "其他";
}
