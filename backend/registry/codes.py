"""National code tables used by the registry: GB 3304 ethnicity, GB/T 4761 relationship,
GB/T 2261.1 gender, and the enrolment statuses (AAC008)."""

from __future__ import annotations

from enum import StrEnum

ETHNICITIES: dict[str, str] = {
    "01": "汉族",
    "02": "蒙古族",
    "03": "回族",
    "04": "藏族",
    "05": "维吾尔族",
    "06": "苗族",
    "07": "彝族",
    "08": "壮族",
    "09": "布依族",
    "10": "朝鲜族",
    "11": "满族",
    "12": "侗族",
    "13": "瑶族",
    "14": "白族",
    "15": "土家族",
    "16": "哈尼族",
    "17": "哈萨克族",
    "18": "傣族",
    "19": "黎族",
    "20": "傈僳族",
    "21": "佤族",
    "22": "畲族",
    "23": "高山族",
    "24": "拉祜族",
    "25": "水族",
    "26": "东乡族",
    "27": "纳西族",
    "28": "景颇族",
    "29": "柯尔克孜族",
    "30": "土族",
    "31": "达斡尔族",
    "32": "仫佬族",
    "33": "羌族",
    "34": "布朗族",
    "35": "撒拉族",
    "36": "毛南族",
    "37": "仡佬族",
    "38": "锡伯族",
    "39": "阿昌族",
    "40": "普米族",
    "41": "塔吉克族",
    "42": "怒族",
    "43": "乌孜别克族",
    "44": "俄罗斯族",
    "45": "鄂温克族",
    "46": "德昂族",
    "47": "保安族",
    "48": "裕固族",
    "49": "京族",
    "50": "塔塔尔族",
    "51": "独龙族",
    "52": "鄂伦春族",
    "53": "赫哲族",
    "54": "门巴族",
    "55": "珞巴族",
    "56": "基诺族",
    "97": "其他未识别民族",
    "98": "外国血统中国籍人士",
}

# GB/T 4761 family relationship, as used in household registers (the common codes).
RELATIONSHIPS: dict[str, str] = {
    "01": "本人",
    "02": "户主",
    "10": "配偶",
    "11": "夫",
    "12": "妻",
    "20": "子",
    "30": "女",
    "40": "孙子、孙女或外孙子、外孙女",
    "50": "父母",
    "51": "父亲",
    "52": "母亲",
    "60": "祖父母或外祖父母",
    "70": "兄、弟、姐、妹",
    "80": "其他亲属",
    "99": "非亲属",
}

GENDERS: dict[str, str] = {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}


class EnrolmentStatus(StrEnum):
    """AAC008 insured status in the residents' scheme."""

    PAYING = "paying"  # 参保缴费
    SUSPENDED = "suspended"  # 暂停
    RECEIVING = "receiving"  # 领取待遇
    TERMINATED = "terminated"  # 终止


ENROLMENT_STATUS_LABELS: dict[EnrolmentStatus, str] = {
    EnrolmentStatus.PAYING: "参保缴费",
    EnrolmentStatus.SUSPENDED: "暂停缴费",
    EnrolmentStatus.RECEIVING: "领取待遇",
    EnrolmentStatus.TERMINATED: "终止参保",
}
