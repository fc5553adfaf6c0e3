"""Miniature copies of the LDC releases, written in their real layouts and formats, for the corpus tests.

Every call side is a pure tone of its own frequency, so a test can tell from the audio which side a
supervision points at. SPHERE files are written by hand: a 1024-byte ``NIST_1A`` header as LDC writes it,
then 16-bit PCM or G.711 mu-law samples.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

RATE = 8000

# ---------------------------------------------------------------- SPHERE


def mulaw_encode(samples: np.ndarray) -> np.ndarray:
    """G.711 mu-law bytes of int16 ``samples`` (bias 0x84, clip 32635, bits inverted)."""
    x = samples.astype(np.int32)
    sign = (x < 0).astype(np.int32)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~((sign << 7) | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def sphere_header(fields: list[tuple[str, int | str]]) -> bytes:
    """A 1024-byte SPHERE header with ``fields`` (ints as ``-i``, strings as ``-sN``)."""
    lines = ["NIST_1A", "   1024"]
    for name, value in fields:
        lines.append(f"{name} -i {value}" if isinstance(value, int) else f"{name} -s{len(value)} {value}")
    text = ("\n".join(lines + ["end_head"]) + "\n").encode("ascii")
    return text + b" " * (1024 - len(text))


def tones(frequencies: list[float], seconds: float, amplitude: float = 0.3) -> np.ndarray:
    """``(frames, channels)`` int16 audio: channel ``c`` is a sine at ``frequencies[c]``."""
    t = np.arange(round(seconds * RATE)) / RATE
    audio = np.stack([amplitude * np.sin(2 * np.pi * f * t) for f in frequencies], axis=1)
    return np.round(audio * 32767).astype(np.int16)


def write_sphere(path: Path, audio: np.ndarray, coding: str = "ulaw") -> Path:
    """Write ``(frames, channels)`` int16 ``audio`` as SPHERE with ``coding`` ``ulaw``, ``pcm`` or ``shorten``.

    ``shorten`` writes the header of a shorten-compressed LDC file followed by bytes no decoder would accept.
    """
    frames, channels = audio.shape
    if coding == "pcm":
        fields = [("sample_n_bytes", 2), ("sample_byte_format", "01"), ("sample_coding", "pcm")]
        payload = audio.astype("<i2").tobytes()
    elif coding == "ulaw":
        fields = [("sample_n_bytes", 1), ("sample_byte_format", "1"), ("sample_coding", "ulaw")]
        payload = mulaw_encode(audio).tobytes()
    else:
        fields = [
            ("sample_n_bytes", 1),
            ("sample_byte_format", "1"),
            ("sample_coding", "ulaw,embedded-shorten-v2.00"),
        ]
        payload = b"ajkg\x02" + bytes(range(256)) * 4
    header = sphere_header(
        [("database_id", "hent-srt-fixture"), ("sample_count", frames), ("channel_count", channels)]
        + fields
        + [("sample_rate", RATE)]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + payload)
    return path


# ---------------------------------------------------------------- IWSLT22 Tunisian (LDC2022E01)

IWSLT_SIDES = {
    "train": ["20170101_100001_10001_A", "20170101_100001_10001_B"],
    "dev": ["20170102_100002_10002_A"],
    "test1": ["20170103_100003_10003_B"],
}
IWSLT_UNLISTED = "20170104_100004_10004_A"  # transcribed, not translated, in no split list
IWSLT_FREQ = {
    "20170101_100001_10001_A": 300.0,
    "20170101_100001_10001_B": 500.0,
    "20170102_100002_10002_A": 700.0,
    "20170103_100003_10003_B": 900.0,
    IWSLT_UNLISTED: 1100.0,
}

# file id -> transcript lines (start, end, speaker, Tunisian) and translation lines (start, end, English),
# the translation lines in another order and with slightly different time stamps.
IWSLT_TRANSCRIPTS = {
    "20170101_100001_10001_A": [
        ("0.5", "1.1", "spk1", "O/باهي برشا ؟"),
        ("1.2", "1.9", "spk1", "كلمة مستبعدة"),
        ("10.25", "10.8", "spk1", "M/يعيشك !"),
    ],
    "20170101_100001_10001_B": [
        ("0.3", "0.9", "spk2", "U/شنوة ؟"),
        ("3.0", "3.5", "spk2", "الأولى"),
        ("3.0", "3.8", "spk2", "الثانية."),
    ],
    "20170102_100002_10002_A": [("0.4", "1.4", "spk3", "عسلامة"), ("2.0", "2.6", "spk3", "لاباس")],
    "20170103_100003_10003_B": [("0.2", "0.8", "spk4", "؟ !"), ("1.0", "1.7", "spk4", "بالسلامة")],
    IWSLT_UNLISTED: [("0.1", "0.5", "spk5", "بركة")],
}
IWSLT_TRANSLATIONS = {
    "20170101_100001_10001_A": [
        ("10.250", "10.800", "spk1", "Thank you!"),
        ("0.500", "1.1004", "spk1", "Very good, (really)?"),
        ("1.2", "1.9", "spk1", "Excluded words."),
    ],
    "20170101_100001_10001_B": [
        ("3.0", "3.8", "spk2", "The second: one."),
        ("0.3", "0.9", "spk2", "What?"),
        ("3.0", "3.5", "spk2", "The first."),
    ],
    "20170102_100002_10002_A": [("2.0", "2.6", "spk3", "Fine #okay"), ("0.4", "1.4", "spk3", "Hello=there")],
    "20170103_100003_10003_B": [("1.0", "1.7", "spk4", 'Goodbye; "friend"'), ("0.2", "0.8", "spk4", "Huh?")],
}
IWSLT_EXCLUDE = "20170101_100001_10001_A 1.200 1.900\n20161226_211334_13200_A 638.109 639.984\n"


def make_iwslt22(root: Path) -> tuple[Path, Path]:
    """Write a miniature LDC2022E01 and split-list directory under ``root``; return (corpus, split dir)."""
    corpus = root / "LDC2022E01"
    for file_id, lines in IWSLT_TRANSCRIPTS.items():
        write_sphere(corpus / "data/audio/ta" / f"{file_id}.sph", tones([IWSLT_FREQ[file_id]], 11.0), "pcm")
        name = f"{file_id}.ta.tsv" if file_id.endswith("_B") else f"{file_id}.tsv"
        _write_tsv(corpus / "data/transcripts/ta" / name, lines)
    for file_id, lines in IWSLT_TRANSLATIONS.items():
        _write_tsv(corpus / "data/translations/ta" / f"{file_id}.eng.tsv", lines)
    splits = root / "iwslt22-dialect"
    splits.mkdir(parents=True)
    for split, ids in IWSLT_SIDES.items():
        (splits / f"{split}.file_id.txt").write_text("\n".join(ids) + "\n")
    (splits / "exclude-utterance.txt").write_text(IWSLT_EXCLUDE)
    return corpus, splits


def _write_tsv(path: Path, lines: list[tuple[str, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(line) + "\n" for line in lines), encoding="utf-8")


# ---------------------------------------------------------------- Fisher / CALLHOME Spanish

TDF_HEADER = (
    "file;unicode\tchannel;int\tstart;float\tend;float\tspeaker;unicode\tspeakerType;unicode\t"
    "speakerDialect;unicode\ttranscript;unicode\tsection;int\tturn;int\tsegment;int\tsectionType;unicode\t"
    "suType;unicode\n;;MM sectionTypes\t[u'report', u'nontrans', None]\n;;MM sectionBoundaries\t[0.0, 9999.0]\n"
)
# call -> (split, [(channel, start, end, text)]); channel 0 = side A at 400 Hz, 1 = side B at 1000 Hz.
FISHER_CALLS = {
    "20050101_120000_101_fsp": (
        "fisher_train",
        [
            (0, 0.10, 0.60, 'Hola, <foreign lang="English"> okay </foreign> ¿cómo estás?'),
            (1, 0.70, 1.20, "Bien (( gracias )) [noise] y tú"),
            (1, 1.25, 1.60, "{laugh} muy bien"),
            (0, 1.70, 1.95, "Adiós."),
        ],
    ),
    "20050102_120000_102_fsp": (
        "fisher_dev",
        [(1, 0.20, 0.90, "¿Dónde vives?"), (0, 1.00, 1.50, "En Madrid")],
    ),
    "20050103_120000_103_fsp": ("fisher_dev2", [(0, 0.30, 1.00, "Me gusta/ el fútbol")]),
    "20050104_120000_104_fsp": (
        "fisher_test",
        [(1, 0.10, 0.50, "Sí"), (0, 0.60, 1.40, "No sé, +pues+ tal vez")],
    ),
}
# (mapping line ids, English references (one, or four for the multi-reference sets))
FISHER_MAPPING = {
    "fisher_train": [
        ("20050101_120000_101_fsp", "1", ["Hello, okay, how are you?"]),
        ("20050101_120000_101_fsp", "2_3", ["Fine, thanks, and you? Very well."]),
        ("20050101_120000_101_fsp", "4", ["Bye."]),
    ],
    "fisher_dev": [
        (
            "20050102_120000_102_fsp",
            "1",
            ["Where do you live?", "Where do you live", "Where's your home?", "Where do you reside?"],
        ),
        ("20050102_120000_102_fsp", "2", ["In Madrid.", "In Madrid", "Madrid.", ""]),
    ],
    "fisher_dev2": [
        (
            "20050103_120000_103_fsp",
            "1",
            ["I like soccer.", "I like football.", "I love soccer.", "Soccer, I like it."],
        )
    ],
    "fisher_test": [
        ("20050104_120000_104_fsp", "1", ["Yes.", "Yes", "Yeah.", "Sure."]),
        (
            "20050104_120000_104_fsp",
            "2",
            ["I don't know, maybe.", "Perhaps.", "No idea, maybe.", "I don't know; maybe."],
        ),
    ],
}
# CALLHOME: call -> (split directory, raw transcript lines; every line counts, blank or not)
CALLHOME_CALLS = {
    "sp_0001": (
        "train",
        [
            "",
            "0.10 0.80 A: ¿Qué tal, mamá?",
            "0.90 1.40 B: Bien, <English okay> hija.",
            "1.50 1.90 B: [[comment]] Sí.",
        ],
    ),
    "sp_0002": ("devtest", ["0.20 0.70 B: Año nuevo", "0.80 1.50 A: Feliz año."]),
    "sp_0003": ("evltest", ["0.10 0.90 A: Está bien {breath}"]),
}
CALLHOME_MAPPING = {
    "callhome_train": [("sp_0001", "2", "How are you, mom?"), ("sp_0001", "3_4", "Fine, okay, dear. Yes.")],
    "callhome_devtest": [("sp_0002", "1_2", "New year. Happy new year.")],
    "callhome_evltest": [("sp_0003", "1", "It's fine.")],
}
FISHER_FREQ = (400.0, 1000.0)


def make_fisher_callhome(root: Path) -> dict[str, Path]:
    """Write miniature LDC2010S01/T04, LDC96S35/T17 and the translation repository under ``root``."""
    dirs = {
        "fisher_audio_dir": root / "LDC2010S01",
        "fisher_transcript_dir": root / "LDC2010T04",
        "callhome_audio_dir": root / "LDC96S35",
        "callhome_transcript_dir": root / "LDC96T17",
        "translation_dir": root / "fisher-callhome-corpus",
    }
    for call, (_, lines) in FISHER_CALLS.items():
        write_sphere(dirs["fisher_audio_dir"] / "data/speech" / f"{call}.sph", tones(list(FISHER_FREQ), 2.0))
        body = "".join(
            f"{call}.sph\t{ch}\t{start}\t{end}\tSpeaker {'AB'[ch]}\tfemale\tnative\t{text}\t0\t{i}\t-1\treport\tstatement\n"
            for i, (ch, start, end, text) in enumerate(lines)
        )
        path = dirs["fisher_transcript_dir"] / "fisher_spa_tr/data/transcripts" / f"{call}.tdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TDF_HEADER + body, encoding="utf-8")
    for call, (part, lines) in CALLHOME_CALLS.items():
        audio = dirs["callhome_audio_dir"] / "CALLHOME/SPANISH/SPEECH" / part.upper() / f"{call.upper()}.SPH"
        write_sphere(audio, tones(list(FISHER_FREQ), 2.0))
        path = (
            dirs["callhome_transcript_dir"] / "callhome_spanish_trans_970711/transcrp" / part / f"{call}.txt"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(("\n".join(lines) + "\n").encode("iso-8859-1"))
    post = dirs["translation_dir"]
    (post / "mapping").mkdir(parents=True)
    (post / "corpus/ldc").mkdir(parents=True)
    for split, entries in FISHER_MAPPING.items():
        (post / "mapping" / split).write_text("".join(f"{call} {ids}\n" for call, ids, _ in entries))
        if len(entries[0][2]) == 1:
            (post / "corpus/ldc" / f"{split}.en").write_text(
                "".join(refs[0] + "\n" for _, _, refs in entries)
            )
        else:
            for k in range(4):
                (post / "corpus/ldc" / f"{split}.en.{k}").write_text(
                    "".join(refs[k] + "\n" for _, _, refs in entries)
                )
    for split, entries in CALLHOME_MAPPING.items():
        (post / "mapping" / split).write_text("".join(f"{call} {ids}\n" for call, ids, _ in entries))
        (post / "corpus/ldc" / f"{split}.en").write_text("".join(en + "\n" for _, _, en in entries))
    return dirs


# ---------------------------------------------------------------- HKUST Mandarin

HKUST_CALLS = {
    "20040101_100000_A000001_B000002": (
        "train",
        [
            "# 20040101_100000_A000001_B000002",
            "",
            '0.10 0.90 A: 你好，{breath} 我是 <foreign language="English">Tom</foreign>。',
            "1.00 1.60 B: 嗯 ((听到)) 了！",
            "1.70 1.90 A: {laugh}",
        ],
    ),
    "20040102_100000_A000003_B000004": ("dev", ["0.20 0.80 B: 再见", "0.90 1.50 A: %呃 好的 ～"]),
}
HKUST_TRANSLATIONS = [
    "# call\tside\tstart\tend\tEnglish",
    "20040101_100000_A000001_B000002\tB\t1.0\t1.6\tUm, I (heard) it!",
    "20040101_100000_A000001_B000002\tA\t0.100\t0.900\tHello, I am Tom.",
    "20040102_100000_A000003_B000004\t1\t0.2\t0.8\tGoodbye",
    "20040102_100000_A000003_B000004\t0\t0.9\t1.5\tUh, okay.",
]


def make_hkust(root: Path) -> dict[str, Path]:
    """Write miniature LDC2005S15 / LDC2005T32 and a translation TSV under ``root``."""
    dirs = {
        "audio_dir": root / "LDC2005S15",
        "transcript_dir": root / "LDC2005T32",
        "translation_tsv": root / "hkust_translations.tsv",
    }
    for call, (part, lines) in HKUST_CALLS.items():
        write_sphere(
            dirs["audio_dir"] / "hkust_mcts_p1/audio" / part / f"{call}.sph", tones(list(FISHER_FREQ), 2.0)
        )
        path = dirs["transcript_dir"] / "hkust_mcts_p1tr/data/trans" / part / f"{call}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(("\n".join(lines) + "\n").encode("gbk"))
    dirs["translation_tsv"].write_text("\n".join(HKUST_TRANSLATIONS) + "\n", encoding="utf-8")
    return dirs


def copy_tree(source: Path, destination: Path) -> Path:
    """Copy a fixture tree (to damage one copy without touching the shared one)."""
    shutil.copytree(source, destination)
    return destination
