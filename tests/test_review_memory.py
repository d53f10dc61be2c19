"""What a review remembers for the next one: its hidden record (through the neutralising every post
goes through), which findings still stand after a push, and when a new finding repeats one."""

from __future__ import annotations

import hashlib

from bot.answers.findings import Finding
from bot.answers.reported import Reported, new_findings, repeats, same_issue, standing
from bot.github.review_history import (
    MAX_RECORD_CHARS,
    LastReview,
    ReviewRecord,
    checked_body,
    read_record,
    record_text,
)
from bot.github.writes import neutralised

SHA = "a" * 40
HEAD = "b" * 40


def test_the_record_survives_the_text_rules_of_every_post() -> None:
    tricky = Reported("src/a.py", 12, "major", "@alice: `x` --> ![img](http://e/x.png) /approve sk-abcdefghijklmnop1234567",
                      "if x: return -1  # <!-- no -->")
    record = ReviewRecord(SHA, 1_048_576, 94_568, 0.0123, (tricky, Reported("b.py", None, "nit", "naming")))
    body = f"<!-- model-routing:review pr=1 sha={SHA} -->\n## Review\n\ntext\n{record_text(record)}\n"
    posted = neutralised("/repos/o/r/pulls/1/reviews", {"body": body}, ["sk-abcdefghijklmnop1234567"])["body"]
    assert read_record(posted) == record
    assert read_record(body.replace("data=78", "data=79")) is None  # damaged: no record, not a wrong one
    assert read_record("no record here") is None


def test_a_long_record_keeps_the_newest_findings_within_its_size() -> None:
    def words(i: int) -> str:  # text that does not compress away
        return " ".join(hashlib.sha256(f"{i}-{k}".encode()).hexdigest() for k in range(4))

    many = tuple(Reported(f"src/f{i}.py", i + 1, "minor", words(i), f"line {i}") for i in range(400))
    text = record_text(ReviewRecord(SHA, 1, 2, 0.5, many))
    assert len(text) <= MAX_RECORD_CHARS + 100
    kept = read_record(text)
    assert kept is not None and 0 < len(kept.findings) < 400 and kept.findings[-1] == many[-1]


def test_the_same_issue_on_the_same_line_content_repeats_even_reworded_or_moved() -> None:
    old = Reported("src/a.py", 21, "major", "The inserted value starts at zero; start it at one", "inserted = 0")
    moved = Reported("src/a.py", 23, "major", "the inserted value starts at zero, it should start at one", "inserted = 0")
    assert repeats(moved, old)
    assert not repeats(Reported("src/b.py", 21, "major", old.message, old.anchor), old)  # another file
    assert not repeats(Reported("src/a.py", 21, "major", old.message, "other = 0"), old)  # another line
    assert not repeats(Reported("src/a.py", 21, "major", "SQL built from user input", old.anchor), old)
    # without anchors, the line number decides
    assert repeats(Reported("x.md", 3, "nit", "typo: teh", ""), Reported("x.md", 3, "nit", "Typo: teh", ""))
    assert not repeats(Reported("x.md", 4, "nit", "typo: teh", ""), Reported("x.md", 3, "nit", "typo: teh", ""))
    assert same_issue("Off by one in the loop bound.", "off-by-one in the loop bound")


def test_new_findings_drop_repeats_of_earlier_ones_and_of_each_other() -> None:
    earlier = [Reported("a.py", 5, "major", "Off by one in the loop bound", "for i in range(n + 1):")]
    found = [Finding(path="a.py", line=9, severity="major", message="off by one in the loop bound"),
             Finding(path="a.py", line=2, severity="minor", message="unused import"),
             Finding(path="a.py", line=2, severity="minor", message="Unused import.")]
    kept, records, repeated = new_findings(found, ["    for i in range(n + 1):", "import os", "import os"], earlier)
    assert [f.message for f in kept] == ["unused import"] and repeated == 2
    assert records == [Reported("a.py", 2, "minor", "unused import", "import os")]


def test_earlier_findings_follow_their_line_or_go_with_it() -> None:
    earlier = [Reported("a.py", 2, "major", "m1", "b = 2"), Reported("a.py", 3, "minor", "m2", "c = 3"),
               Reported("gone.py", 1, "nit", "m3", "x"), Reported("kept.py", 7, "nit", "m4", "y")]
    after = standing(earlier, {"a.py": "new = 0\na = 1\nb = 2\nc = 4\n", "gone.py": None})
    assert [(f.message, f.line) for f in after] == [("m1", 3), ("m4", 7)]


def test_a_push_with_nothing_new_leaves_one_line_on_the_review() -> None:
    record = ReviewRecord(SHA, 1, 2, 0.5)
    body = (f"<!-- model-routing:review pr=7 sha={SHA} -->\n## Review of aaaaaaa: looks good\n\nSummary.\n\n"
            f"Footer\n{record_text(record)}")
    last = LastReview(1, SHA, SHA, body, record)
    once = checked_body(last, 7, HEAD, "**Checked `aaaaaaa..bbbbbbb`: nothing new.**", record)
    twice = checked_body(LastReview(1, HEAD, SHA, once, record), 7, "c" * 40,
                         "**Checked `aaaaaaa..ccccccc`: nothing new.**", record)
    assert twice.split("\n")[:6] == [f"<!-- model-routing:review pr=7 sha={'c' * 40} -->",
                                     "## Review of aaaaaaa: looks good", "",
                                     "**Checked `aaaaaaa..ccccccc`: nothing new.**", "", "Summary."]
    assert twice.count("**Checked") == 1 and twice.count("review-record") == 1
    assert read_record(twice) == record
