"""What env.json records: the CPU, read from /proc/cpuinfo's text with a fallback when there is none, and the
records of the earlier runs in the same directory."""

import json
import platform

from hent_srt.train.env_info import cpu_model_name, env_records

# Two processors of a dual-socket Linux machine, as /proc/cpuinfo lists them (abridged).
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz
flags\t\t: fpu vme avx2 avx512f

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz
"""


def test_model_name_is_read_from_cpuinfo_not_confused_with_model(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert cpu_model_name(path) == "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"


def test_without_cpuinfo_falls_back_to_platform_processor(tmp_path):
    assert cpu_model_name(tmp_path / "missing") == (platform.processor() or None)


def test_cpuinfo_without_model_name_falls_back(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t:   \nHardware\t: BCM2835\n")
    assert cpu_model_name(path) == (platform.processor() or None)


def test_the_records_accumulate_oldest_first(tmp_path):
    path = tmp_path / "env.json"
    assert env_records(path) == []
    first, second = {"started_at": "1", "cpu": {"model": "A"}}, {"started_at": "2", "cpu": {"model": "B"}}
    path.write_text(json.dumps(first))
    assert env_records(path) == [first]
    path.write_text(json.dumps({**second, "earlier_runs": [first]}))
    assert env_records(path) == [first, second]


def test_an_unreadable_earlier_env_json_is_kept_as_text(tmp_path):
    path = tmp_path / "env.json"
    path.write_bytes(b'{"started_at": "1", trunc\xff')
    assert env_records(path) == [{"unreadable_env_json": '{"started_at": "1", trunc\ufffd'}]
    path.write_text("[1, 2]")
    assert env_records(path) == [{"unreadable_env_json": "[1, 2]"}]
    path.write_text(json.dumps({"started_at": "2", "earlier_runs": "lost"}))
    assert env_records(path) == [{"unreadable_earlier_runs": "lost"}, {"started_at": "2"}]
