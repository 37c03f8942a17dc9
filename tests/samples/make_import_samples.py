"""Writes the import sample folder used by the tests (run once; the outputs are committed).

    python tests/samples/make_import_samples.py

Every identifier planted here is fictional. Each is listed in PLANTED (tests/test_imports.py) and must not survive
an import.
"""
from __future__ import annotations

import io
from pathlib import Path

import docx

HERE = Path(__file__).resolve().parent / "import"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    document = docx.Document()
    for line in [
        "Interviewer: Thank you for meeting me, Wang Lei.",
        "P01: My pleasure. I moved to Hangzhou in 2015 to work for Huawei.",
        "Interviewer: How can I reach you for a follow-up?",
        "P01: Write to wang.lei@example.com or call +44 20 7946 0958.",
        "P01: My mother, Zhang Min, still lives in Shenyang.",
    ]:
        document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    (HERE / "P01_interview.docx").write_bytes(buffer.getvalue())

    (HERE / "P02_访谈.txt").write_bytes(
        "访谈者：请介绍一下您自己。\r\n"
        "受访者：我叫李明，以前在阿里巴巴工作，后来回到杭州。\r\n"
        "受访者：我的手机是13912345678，身份证号11010519491231002X。\r\n"
        "访谈者：谢谢。\r\n".encode("gb18030")
    )
    (HERE / "P03_interview.txt").write_bytes(
        "I: Where were you born?\nR: I was born on 3 May 1988 in Shenyang, and I studied at Fudan with Wang Lei.\n"
        "R: My old number was 010-6543-2100.\n".encode("utf-16")
    )
    (HERE / "P04_zoom.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Interviewer>Did Zhang Min help you return?</v>\n\n"
        "00:00:04.500 --> 00:00:09.000\n<v P04>Yes, she introduced me to Huawei.</v>\n\n"
        "00:00:09.500 --> 00:00:12.000\n<v P04>Then I moved to Hangzhou.</v>\n",
        encoding="utf-8",
    )
    (HERE / "key.csv").write_text(
        "original,pseudonym,aliases\nWang Lei,[P01],Lei Wang\nZhang Min,[mother of P01],\n"
        "Huawei,[employer A],\n"
        "Hangzhou,[City A],\n杭州,[城市A],\nShenyang,[City B],\n李明,[P02],\n阿里巴巴,[雇主B],\n"
        "Fudan,[University X],\n",
        encoding="utf-8",
    )
    (HERE / "participants.csv").write_text(
        "label,Gender,Age,Migration,Interviewed\nP01,Male,34,Interprovincial,2024-03-05\n"
        "P02,Male,41,Intraprovincial,2024-03-07\nP03,Female,29,Interprovincial,2024-04-01\n"
        "P04,Female,38,Interprovincial,2024-04-02\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
