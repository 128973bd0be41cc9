"""Roles and their permissions, and the region scope an office gives.

Protection level 3 (等保三级) asks for three separate administrators — system,
security and audit — none of whom may do the others' work or handle cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    """One thing an operator may be allowed to do."""

    PERSON_READ = "person:read"
    PERSON_WRITE = "person:write"
    PERSON_IMPORT = "person:import"
    CHANGE_APPROVE = "change:approve"
    ENROLMENT_WRITE = "enrolment:write"
    ORG_READ = "org:read"
    OPERATOR_READ = "operator:read"
    OPERATOR_MANAGE = "operator:manage"
    OPERATOR_UNLOCK = "operator:unlock"
    AUDIT_READ = "audit:read"
    CERT_READ = "cert:read"
    CERT_MANAGE = "cert:manage"
    CARD_READ = "card:read"
    CARD_COUNTER = "card:counter"
    CARD_PRODUCE = "card:produce"
    CARD_AUTHENTICATE = "card:authenticate"
    CONTRIBUTION_READ = "contribution:read"
    CONTRIBUTION_COLLECT = "contribution:collect"
    CONTRIBUTION_REVERSE = "contribution:reverse"
    REFUND_REQUEST = "refund:request"
    REFUND_APPROVE = "refund:approve"
    DAY_CLOSE_SIGN = "day_close:sign"
    BANK_FILES = "bank:files"
    POLICY_MANAGE = "policy:manage"
    LEDGER_READ = "ledger:read"
    BENEFIT_READ = "benefit:read"
    BENEFIT_APPLY = "benefit:apply"
    BENEFIT_APPROVE = "benefit:approve"
    SURVIVAL_CERTIFY = "survival:certify"
    PAYROLL_BUILD = "payroll:build"
    PAYROLL_REVIEW = "payroll:review"
    PAYROLL_APPROVE = "payroll:approve"
    STATS_READ = "stats:read"
    REPORT_MAKE = "report:make"
    REPORT_SIGN = "report:sign"
    SUPERVISION_READ = "supervision:read"


#: What each permission is called at the counter (error messages, operator listings).
PERMISSION_LABELS: dict[Permission, str] = {
    Permission.PERSON_READ: "查询人员",
    Permission.PERSON_WRITE: "登记人员",
    Permission.PERSON_IMPORT: "批量导入人员",
    Permission.CHANGE_APPROVE: "审核信息变更",
    Permission.ENROLMENT_WRITE: "办理参保登记",
    Permission.ORG_READ: "查询机构",
    Permission.OPERATOR_READ: "查询操作员",
    Permission.OPERATOR_MANAGE: "管理操作员",
    Permission.OPERATOR_UNLOCK: "解锁操作员",
    Permission.AUDIT_READ: "查阅审计日志",
    Permission.CERT_READ: "查询证书",
    Permission.CERT_MANAGE: "管理证书",
    Permission.CARD_READ: "查询社保卡",
    Permission.CARD_COUNTER: "社保卡柜面业务",
    Permission.CARD_PRODUCE: "社保卡制卡",
    Permission.CARD_AUTHENTICATE: "社保卡认证",
    Permission.CONTRIBUTION_READ: "查询缴费",
    Permission.CONTRIBUTION_COLLECT: "柜面收款",
    Permission.CONTRIBUTION_REVERSE: "冲正缴费",
    Permission.REFUND_REQUEST: "申请退费",
    Permission.REFUND_APPROVE: "审批退费",
    Permission.DAY_CLOSE_SIGN: "日结签字",
    Permission.BANK_FILES: "银行批量文件",
    Permission.POLICY_MANAGE: "管理政策参数",
    Permission.LEDGER_READ: "查询基金账簿",
    Permission.BENEFIT_READ: "查询待遇",
    Permission.BENEFIT_APPLY: "受理待遇申请",
    Permission.BENEFIT_APPROVE: "审核待遇",
    Permission.SURVIVAL_CERTIFY: "领取资格认证",
    Permission.PAYROLL_BUILD: "生成发放名册",
    Permission.PAYROLL_REVIEW: "复核发放名册",
    Permission.PAYROLL_APPROVE: "审批发放名册",
    Permission.STATS_READ: "查询统计指标",
    Permission.REPORT_MAKE: "编制统计报表",
    Permission.REPORT_SIGN: "签发统计报表",
    Permission.SUPERVISION_READ: "查询基金监管疑点",
}


class Role(StrEnum):
    """Operator roles (经办员, 复核员, administrators)."""

    CLERK = "clerk"
    REVIEWER = "reviewer"
    COUNTY_ADMIN = "county_admin"
    PROVINCE_ADMIN = "province_admin"
    SYSTEM_ADMIN = "system_admin"
    SECURITY_ADMIN = "security_admin"
    AUDIT_ADMIN = "audit_admin"
    CARD_CENTRE = "card_centre"
    SUPERVISOR = "supervisor"


ROLE_LABELS: dict[Role, str] = {
    Role.CLERK: "经办员",
    Role.REVIEWER: "复核员",
    Role.COUNTY_ADMIN: "县级管理员",
    Role.PROVINCE_ADMIN: "省级管理员",
    Role.SYSTEM_ADMIN: "系统管理员",
    Role.SECURITY_ADMIN: "安全管理员",
    Role.AUDIT_ADMIN: "审计管理员",
    Role.CARD_CENTRE: "制卡中心操作员",
    Role.SUPERVISOR: "基金监管员",
}

_P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CLERK: frozenset(
        {_P.PERSON_READ, _P.PERSON_WRITE, _P.PERSON_IMPORT, _P.ENROLMENT_WRITE, _P.ORG_READ}
    ),
    Role.REVIEWER: frozenset({_P.PERSON_READ, _P.CHANGE_APPROVE, _P.ORG_READ}),
    Role.COUNTY_ADMIN: frozenset(
        {_P.PERSON_READ, _P.ORG_READ, _P.OPERATOR_READ, _P.OPERATOR_MANAGE, _P.CERT_READ}
    ),
    Role.PROVINCE_ADMIN: frozenset(
        {_P.PERSON_READ, _P.ORG_READ, _P.OPERATOR_READ, _P.OPERATOR_MANAGE, _P.CERT_READ}
    ),
    Role.SYSTEM_ADMIN: frozenset({_P.ORG_READ, _P.OPERATOR_READ, _P.OPERATOR_MANAGE}),
    # Certificates are the security administrator's: tokens, approvals, revocation.
    Role.SECURITY_ADMIN: frozenset(
        {_P.ORG_READ, _P.OPERATOR_READ, _P.OPERATOR_UNLOCK, _P.CERT_READ, _P.CERT_MANAGE}
    ),
    Role.AUDIT_ADMIN: frozenset({_P.AUDIT_READ, _P.OPERATOR_READ, _P.CERT_READ}),
}

# Contributions, refunds, bank files, policy and the fund's books. The clerk makes
# (assesses, collects, asks for refunds, exchanges bank files) and the reviewer checks
# (reverses collections, approves refunds); policy versions are proposed and approved by
# two province administrators. The system, security and audit administrators get none.
_FUND_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CLERK: frozenset(
        {_P.CONTRIBUTION_READ, _P.CONTRIBUTION_COLLECT, _P.REFUND_REQUEST, _P.BANK_FILES}
    ),
    Role.REVIEWER: frozenset(
        {
            _P.CONTRIBUTION_READ,
            _P.CONTRIBUTION_REVERSE,
            _P.REFUND_APPROVE,
            _P.DAY_CLOSE_SIGN,
            _P.LEDGER_READ,
        }
    ),
    Role.COUNTY_ADMIN: frozenset({_P.LEDGER_READ}),
    Role.PROVINCE_ADMIN: frozenset({_P.POLICY_MANAGE, _P.LEDGER_READ}),
}
ROLE_PERMISSIONS = {
    role: granted | _FUND_GRANTS.get(role, frozenset())
    for role, granted in ROLE_PERMISSIONS.items()
}

# Social security cards. Counter staff apply, issue, activate, take loss reports and
# replace; the card centre runs production and personalisation. Both authenticate cards.
# The system, security and audit administrators get none.
_CARD_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CLERK: frozenset({_P.CARD_READ, _P.CARD_COUNTER, _P.CARD_AUTHENTICATE}),
    Role.REVIEWER: frozenset({_P.CARD_READ}),
    Role.COUNTY_ADMIN: frozenset({_P.CARD_READ}),
    Role.PROVINCE_ADMIN: frozenset({_P.CARD_READ}),
    Role.CARD_CENTRE: frozenset(
        {_P.ORG_READ, _P.PERSON_READ, _P.CARD_READ, _P.CARD_PRODUCE, _P.CARD_AUTHENTICATE}
    ),
}
ROLE_PERMISSIONS = {
    role: ROLE_PERMISSIONS.get(role, frozenset()) | _CARD_GRANTS.get(role, frozenset())
    for role in Role
}

# Pensions and payroll. The clerk makes (applies, certifies survival, builds payrolls and
# exchanges their bank files); the reviewer checks (approves awards, reviews payrolls); the
# county or province administrator approves a reviewed payroll, a third person. The
# system, security and audit administrators get none.
_BENEFIT_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CLERK: frozenset(
        {_P.BENEFIT_READ, _P.BENEFIT_APPLY, _P.SURVIVAL_CERTIFY, _P.PAYROLL_BUILD}
    ),
    Role.REVIEWER: frozenset({_P.BENEFIT_READ, _P.BENEFIT_APPROVE, _P.PAYROLL_REVIEW}),
    Role.COUNTY_ADMIN: frozenset({_P.BENEFIT_READ, _P.PAYROLL_APPROVE}),
    Role.PROVINCE_ADMIN: frozenset({_P.BENEFIT_READ, _P.PAYROLL_APPROVE}),
}
ROLE_PERMISSIONS = {
    role: ROLE_PERMISSIONS[role] | _BENEFIT_GRANTS.get(role, frozenset()) for role in Role
}

# Statistics (decision support). Reviewers and administrators read indicators; a reviewer
# or an administrator makes a report form; a county or province administrator other than
# the maker signs it off, which freezes it.
_STATS_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.REVIEWER: frozenset({_P.STATS_READ, _P.REPORT_MAKE}),
    Role.COUNTY_ADMIN: frozenset({_P.STATS_READ, _P.REPORT_MAKE, _P.REPORT_SIGN}),
    Role.PROVINCE_ADMIN: frozenset({_P.STATS_READ, _P.REPORT_MAKE, _P.REPORT_SIGN}),
}
ROLE_PERMISSIONS = {
    role: ROLE_PERMISSIONS[role] | _STATS_GRANTS.get(role, frozenset()) for role in Role
}

# Fund supervision (基金监管). The supervisor reads findings across its office's region and
# changes nothing in case handling; county and province administrators read them too.
_SUPERVISION_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.SUPERVISOR: frozenset({_P.ORG_READ, _P.SUPERVISION_READ}),
    Role.COUNTY_ADMIN: frozenset({_P.SUPERVISION_READ}),
    Role.PROVINCE_ADMIN: frozenset({_P.SUPERVISION_READ}),
}
ROLE_PERMISSIONS = {
    role: ROLE_PERMISSIONS[role] | _SUPERVISION_GRANTS.get(role, frozenset()) for role in Role
}

#: The three administrators of protection level 3 (三员). None of them may create, change,
#: unlock or reset the password of any of the three: those accounts are made and changed
#: only on the host, by the two-person console procedure (``xnb operator … --performed-by
#: … --witness …``, docs/operations.md), never over the API.
THREE_ADMINISTRATORS: frozenset[Role] = frozenset(
    {Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN}
)

# Which roles an administrator of each kind may create or change: the system administrator
# every ordinary role, none of the three administrators.
MANAGEABLE_ROLES: dict[Role, frozenset[Role]] = {
    Role.COUNTY_ADMIN: frozenset({Role.CLERK, Role.REVIEWER}),
    Role.PROVINCE_ADMIN: frozenset(
        {Role.CLERK, Role.REVIEWER, Role.COUNTY_ADMIN, Role.CARD_CENTRE, Role.SUPERVISOR}
    ),
    Role.SYSTEM_ADMIN: frozenset(Role) - THREE_ADMINISTRATORS,
}

_PREFIX_LENGTH_BY_LEVEL = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}
LEVEL_LABELS = {1: "省", 2: "市", 3: "县", 4: "乡镇", 5: "村"}


def level_of(code: str) -> int:
    """The tree level of a 12-digit region code (1 province … 5 village)."""
    if len(code) != 12 or not code.isdigit():
        raise ValueError(f"region code must be 12 digits: {code!r}")
    if code[9:] != "000":
        return 5
    if code[6:9] != "000":
        return 4
    if code[4:6] != "00":
        return 3
    if code[2:4] != "00":
        return 2
    return 1


def parent_of(code: str) -> str | None:
    """The 12-digit code of the parent node, or None for a province."""
    level = level_of(code)
    if level == 1:
        return None
    keep = _PREFIX_LENGTH_BY_LEVEL[level - 1]
    return code[:keep].ljust(12, "0")


@dataclass(frozen=True)
class Scope:
    """The part of the region tree an operator may see: every code with this prefix."""

    prefix: str

    @classmethod
    def of_region(cls, code: str) -> Scope:
        """The scope of an office at region ``code``."""
        return cls(code[: _PREFIX_LENGTH_BY_LEVEL[level_of(code)]])

    def covers(self, region_code: str) -> bool:
        """True when ``region_code`` lies inside this scope."""
        return region_code.startswith(self.prefix)

    def contains_scope(self, other: Scope) -> bool:
        """True when ``other`` is this scope or lies wholly inside it."""
        return other.prefix.startswith(self.prefix)
