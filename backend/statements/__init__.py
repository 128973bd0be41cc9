"""Printed documents of a resident's account: the annual statement (个人账户对账单) and the
contribution certificate (缴费证明), gathered from the books and rendered as A4 PDF."""
