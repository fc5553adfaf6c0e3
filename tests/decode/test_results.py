"""RESULTS.md sections: table cells from decode summaries (latency columns for streaming), replacement by heading."""

from __future__ import annotations

from hent_srt.decode.results import format_section, write_section

SIGNATURE = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"


def summary(name: str, latency: dict | None) -> dict:
    rows = [{"blank_penalty": p, "bleu": 20.0 + p, "chrf": 40.0, "length_ratio": 0.9, "bleu_signature": SIGNATURE}
            for p in (0.0, 2.0)]
    if latency is not None:
        rows[1]["latency"] = latency
    return {"set": name, "asr": {"metric": "WER", "error_rate": 12.345}, "st": rows}


def table_rows(section: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]


def test_offline_table_has_one_row_per_penalty_and_the_signature():
    section = format_section("m (c, test)", "greedy", [summary("test", None)], "epoch 3", ["hent-srt decode x"])
    header, *rows = table_rows(section)
    assert header == ["decoding", "ST blank penalty", "test WER", "test BLEU", "test chrF++", "test len. ratio",
                      "comment"]
    assert rows == [["greedy", "0", "12.35", "20.00", "40.00", "0.900", "epoch 3"],
                    ["greedy", "2", "12.35", "22.00", "40.00", "0.900", "epoch 3"]]
    assert f"`{SIGNATURE}`" in section and "hent-srt decode x" in section
    assert section.splitlines()[3] == "|" + "---|" * 7


def test_streaming_table_adds_latency_columns_per_set():
    latency = {"first_token_delay": 1.234, "average_lagging": 0.5}
    section = format_section("m", "greedy (streaming)", [summary("dev", latency), summary("test", None)], "", [])
    header, *rows = table_rows(section)
    assert header[2:8] == ["dev WER", "dev BLEU", "dev chrF++", "dev len. ratio", "dev first-token delay (s)",
                           "dev AL (s)"]
    assert len(header) == 2 + 2 * 6 + 1 and section.splitlines()[3] == "|" + "---|" * 15
    assert rows[1][6:8] == ["1.23", "0.50"] and rows[0][6:8] == ["—", "—"]
    assert rows[1][12:14] == ["—", "—"]


def test_write_section_replaces_by_heading_and_keeps_others(tmp_path):
    path = tmp_path / "RESULTS.md"
    first = format_section("a", "greedy", [summary("test", None)], "one", [])
    write_section(path, first)
    write_section(path, format_section("b", "greedy", [summary("test", None)], "two", []))
    write_section(path, format_section("a", "greedy", [summary("test", None)], "three", []))
    text = path.read_text()
    assert text.count("## a") == 1 and text.count("## b") == 1
    assert "three" in text and "| one |" not in text and text.index("## a") < text.index("## b")


def test_reordering_table_when_the_rows_carry_split_scores():
    def subset(n: int, bleu: float) -> dict:
        return {"num_segments": n, "bleu": bleu, "chrf": bleu + 10, "ribes": bleu + 20} if n else {"num_segments": 0}

    s = summary("test", None)
    for row in s["st"]:
        row["reordering"] = {"all": subset(5, 30.0), "monotone": subset(2, 40.0 + row["blank_penalty"]),
                             "reordered": subset(3, 25.0), "reordered_10": subset(0, 0.0)}
    section = format_section("m", "greedy", [s], "", [])
    assert "Split by reordering" in section
    header, *rows = table_rows(section.split("Split by reordering")[1])
    assert header[2:5] == ["test BLEU 0 crossings (2)", "test BLEU >= 1 crossing (3)", "test BLEU >= 10 crossings (0)"]
    assert rows[1][2:] == ["42.00", "25.00", "—", "52.00", "35.00", "62.00", "45.00"]
    assert "Split by reordering" not in format_section("m", "greedy", [summary("test", None)], "", [])
