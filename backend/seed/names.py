"""Names as residents of Hoboksar (和布克赛尔) have them, by GB 3304 ethnicity.

Mongol (Torghut) names are a single given name; Kazakh and Uyghur names are the
given name joined with ``·`` to the father's given name; Han and Hui names are a
surname and a given name. A few Han surnames are rare characters outside the BMP
(𠮷, a variant of 吉), so GB18030 four-byte sequences occur in every sizeable file.
"""

from __future__ import annotations

HAN, MONGOL, HUI, UYGHUR, KAZAKH = "01", "02", "03", "05", "17"

# Share of each ethnicity among the county's households (roughly the census mix).
ETHNIC_MIX: tuple[tuple[str, float], ...] = (
    (KAZAKH, 0.34),
    (MONGOL, 0.30),
    (HAN, 0.24),
    (HUI, 0.07),
    (UYGHUR, 0.05),
)

MALE_GIVEN: dict[str, tuple[str, ...]] = {
    MONGOL: (
        "巴特尔",
        "孟克",
        "巴图",
        "朝鲁",
        "额尔敦",
        "苏和",
        "宝音",
        "那顺",
        "布和",
        "达来",
        "哈斯",
        "敖其尔",
        "乌力吉",
        "巴雅尔",
        "吉日格勒",
        "特木尔",
        "满都拉",
        "阿拉坦",
    ),
    KAZAKH: (
        "叶尔兰",
        "努尔兰",
        "哈孜别克",
        "阿斯哈尔",
        "别克波拉提",
        "加尔肯",
        "叶尔波拉提",
        "达吾提",
        "吐尔逊别克",
        "阿依别克",
        "马合沙提",
        "胡安德克",
        "赛力克",
        "叶尔肯",
    ),
    UYGHUR: (
        "买买提",
        "艾力",
        "阿不都拉",
        "吐尔逊",
        "艾尔肯",
        "努尔麦麦提",
        "热合曼",
        "伊力哈木",
        "阿迪力",
        "亚森",
    ),
    HAN: (
        "建国",
        "国强",
        "志强",
        "伟",
        "军",
        "勇",
        "磊",
        "文华",
        "晓东",
        "俊杰",
        "浩然",
        "海涛",
        "永红",
        "新疆",
        "卫东",
        "子轩",
    ),
    HUI: ("福祥", "玉福", "占海", "明", "俊", "学文", "忠", "海林", "有福", "成"),
}
FEMALE_GIVEN: dict[str, tuple[str, ...]] = {
    MONGOL: (
        "其其格",
        "乌兰",
        "萨仁",
        "格日勒",
        "娜仁",
        "高娃",
        "斯琴",
        "图雅",
        "托娅",
        "其木格",
        "乌云",
        "塔娜",
        "阿拉坦其其格",
        "萨如拉",
    ),
    KAZAKH: (
        "阿依古丽",
        "古丽娜尔",
        "阿依努尔",
        "古丽巴合提",
        "加娜尔",
        "玛依拉",
        "阿克玛拉勒",
        "哈丽玛",
        "古丽扎提",
        "巴合提古丽",
    ),
    UYGHUR: (
        "阿依古丽",
        "古丽米拉",
        "热依拉",
        "帕提古丽",
        "米日古丽",
        "阿娜尔古丽",
        "努尔古丽",
        "再娜甫",
    ),
    HAN: (
        "秀英",
        "桂兰",
        "丽娟",
        "海燕",
        "敏",
        "静",
        "艳",
        "娟",
        "春梅",
        "玉兰",
        "欣怡",
        "梓萱",
        "红霞",
        "晓燕",
    ),
    HUI: ("秀兰", "法蒂玛", "玉梅", "桂花", "海燕", "小红", "兰英", "凤英"),
}
SURNAMES: dict[str, tuple[str, ...]] = {
    HAN: (
        "王",
        "李",
        "张",
        "刘",
        "陈",
        "杨",
        "赵",
        "黄",
        "周",
        "吴",
        "徐",
        "孙",
        "朱",
        "胡",
        "郭",
        "何",
        "林",
        "高",
        "罗",
        "吉",
    ),
    HUI: ("马", "丁", "杨", "海", "哈", "白", "纳", "穆", "撒", "冶"),
}
RARE_SURNAME = "𠮷"  # U+20BB7, outside the BMP
RARE_SURNAME_SHARE = 0.01

PATRONYMIC = frozenset({KAZAKH, UYGHUR})
WITH_SURNAME = frozenset({HAN, HUI})
