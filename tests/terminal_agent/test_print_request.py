"""What the agent asks the backend to sign for a print request: the business fact only."""

from __future__ import annotations

from terminal_agent.printing import PrintRequest, sign_body

COUNTER = {"office": "和布克赛尔镇社保所", "operator": "李娜"}
PERSON = {"name": "张桂兰", "id_number": "65422619580101002X"}


def _request(receipt: dict[str, object], **extra: object) -> PrintRequest:
    return PrintRequest.model_validate({"receipt": receipt, "counter": COUNTER, **extra})


def test_the_backend_is_asked_for_the_fact_never_for_person_or_amount() -> None:
    collection = _request(
        {
            **PERSON,
            "layout": "contribution",
            "contribution_year": 2026,
            "grade_fen": 50000,
            "amount_fen": 99_999_999,
        },
        fact_id=17,
    )
    assert sign_body(collection) == {"kind": "contribution", "fact_id": 17}
    statement = _request(
        {
            **PERSON,
            "layout": "pension_statement",
            "months": [{"month": "2026-03", "basic_fen": 14300, "account_fen": 5000}],
        },
        fact_id=4,
    )
    assert sign_body(statement) == {"kind": "pension_statement", "fact_id": 4, "year": 2026}


def test_without_a_fact_there_is_nothing_to_sign() -> None:
    survival = _request({**PERSON, "layout": "survival", "valid_until": "2027-01-01"})
    assert sign_body(survival) is None
