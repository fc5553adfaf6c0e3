"""Miniature copies of the LDC releases, written in their real layouts and formats, for the corpus tests.

Every call side is a pure tone of its own frequency, so a test can tell from the audio which side a
supervision points at. SPHERE files are written by hand: a 1024-byte ``NIST_1A`` header as LDC writes it,
then 16-bit PCM or G.711 mu-law samples.

The text files carry the quirks of the released files (the comment above each corpus's tables says which):
carriage returns inside lines of Post et al.'s translations at the published counts, byte-order marks, CRLF,
GBK and ISO-8859-1, blanks and tabs around fields, references made of punctuation only. ``make_fisher_callhome_miniature``
writes the Fisher/CALLHOME splits at sizes whose expected segment counts are known by construction.
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


# ---------------------------------------------------------------- text files as released


def write_text(path: Path, lines: list[str], encoding: str = "utf-8", eol: str = "\n", bom: bool = False) -> Path:
    """Write ``lines``, each ended by ``eol``, in ``encoding`` (a UTF-8 byte-order mark first with ``bom``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + eol for line in lines).encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
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
# the translation lines in another order and with slightly different time stamps. Quirks: blanks and a tab
# after a text, a carriage return and a form feed inside texts, translations made of punctuation only
# (dropped from train, kept in dev), a Tunisian text made of punctuation only (kept in test1).
IWSLT_TRANSCRIPTS = {
    "20170101_100001_10001_A": [
        ("0.5", "1.1", "spk1", "O/باهي برشا ؟"),
        ("1.2", "1.9", "spk1", "كلمة مستبعدة"),
        ("5.0", "5.5", "spk1", "إيه"),
        ("10.25", "10.8", "spk1", "M/يعيشك !  \t"),
    ],
    "20170101_100001_10001_B": [
        ("0.3", "0.9", " spk2 ", "U/شنوة ؟"),
        ("3.0", "3.5", "spk2", "الأولى"),
        ("3.0", "3.8", "spk2", "الثانية."),
    ],
    "20170102_100002_10002_A": [
        ("0.4", "1.4", "spk3", "عسلامة"),
        ("2.0", "2.6", "spk3", "لا\x0cباس"),
        ("3.0", "3.4", "spk3", "آه"),
    ],
    "20170103_100003_10003_B": [("0.2", "0.8", "spk4", "؟ !"), ("1.0", "1.7", "spk4", "بالسلامة")],
    IWSLT_UNLISTED: [("0.1", "0.5", "spk5", "بركة")],
}
IWSLT_TRANSLATIONS = {
    "20170101_100001_10001_A": [
        ("10.250", "10.800", "spk1", "Thank you! "),
        ("0.500", "1.1004", "spk1", "Very good,\r (really)?"),
        ("5.0", "5.5", "spk1", "..."),
        ("1.2", "1.9", "spk1", "Excluded words."),
    ],
    "20170101_100001_10001_B": [
        ("3.0", "3.8", "spk2", "The second: one."),
        ("0.3", "0.9", "spk2", "What?"),
        ("3.0", "3.5", "spk2", "The first."),
    ],
    "20170102_100002_10002_A": [
        ("2.0", "2.6", "spk3", "Fine #okay"),
        ("3.0", "3.4", "spk3", "?!"),
        ("0.4", "1.4", "spk3", "Hello=there"),
    ],
    "20170103_100003_10003_B": [("1.0", "1.7", "spk4", 'Goodbye; "friend"'), ("0.2", "0.8", "spk4", "Huh?")],
}
IWSLT_EXCLUDE = ["20170101_100001_10001_A 1.200 1.900", "20161226_211334_13200_A 638.109 639.984"]
# how each file is written: (end of line, byte-order mark)
IWSLT_FILE_STYLE = {
    "20170101_100001_10001_A": ("\r\n", False),
    "20170101_100001_10001_B": ("\n", True),
    "20170102_100002_10002_A": ("\r\n", True),
}


def make_iwslt22(root: Path) -> tuple[Path, Path]:
    """Write a miniature LDC2022E01 and split-list directory under ``root``; return (corpus, split dir)."""
    corpus = root / "LDC2022E01"
    for file_id, lines in IWSLT_TRANSCRIPTS.items():
        eol, bom = IWSLT_FILE_STYLE.get(file_id, ("\n", False))
        write_sphere(corpus / "data/audio/ta" / f"{file_id}.sph", tones([IWSLT_FREQ[file_id]], 11.0), "pcm")
        name = f"{file_id}.ta.tsv" if file_id.endswith("_B") else f"{file_id}.tsv"
        write_text(corpus / "data/transcripts/ta" / name, ["\t".join(line) for line in lines], eol=eol, bom=bom)
    for file_id, lines in IWSLT_TRANSLATIONS.items():
        eol, bom = IWSLT_FILE_STYLE.get(file_id, ("\n", False))
        write_text(
            corpus / "data/translations/ta" / f"{file_id}.eng.tsv",
            ["\t".join(line) for line in lines],
            eol=eol,
            bom=not bom,
        )
    splits = root / "iwslt22-dialect"
    for split, ids in IWSLT_SIDES.items():
        write_text(splits / f"{split}.file_id.txt", ids, eol="\r\n" if split == "dev" else "\n", bom=split == "train")
    write_text(splits / "exclude-utterance.txt", IWSLT_EXCLUDE, eol="\r\n", bom=True)
    return corpus, splits


# ---------------------------------------------------------------- Fisher / CALLHOME Spanish

TDF_HEADER = [
    "file;unicode\tchannel;int\tstart;float\tend;float\tspeaker;unicode\tspeakerType;unicode\t"
    "speakerDialect;unicode\ttranscript;unicode\tsection;int\tturn;int\tsegment;int\tsectionType;unicode\t"
    "suType;unicode",
    ";;MM sectionTypes\t[u'report', u'nontrans', None]",
    ";;MM sectionBoundaries\t[0.0, 9999.0]",
]
# call -> (split, [(channel, start, end, text)]); channel 0 = side A at 400 Hz, 1 = side B at 1000 Hz.
FISHER_CALLS = {
    "20050101_120000_101_fsp": (
        "fisher_train",
        [
            (0, 0.10, 0.60, 'Hola, <foreign lang="English"> okay </foreign> ¿cómo estás?'),
            (1, 0.70, 1.20, "Bien (( gracias )) [noise] y\r tú"),
            (1, 1.25, 1.60, "{laugh} muy bien"),
            (0, 1.70, 1.95, "Adiós."),
            (1, 2.00, 2.40, "Vale"),
        ],
    ),
    "20050102_120000_102_fsp": (
        "fisher_dev",
        [(1, 0.20, 0.90, "¿Dónde vives?"), (0, 1.00, 1.50, "En Madrid")],
    ),
    "20050103_120000_103_fsp": (
        "fisher_dev2",
        [(0, 0.30, 1.00, "Me gusta/ el fútbol"), (1, 1.10, 1.50, "Claro")],
    ),
    "20050104_120000_104_fsp": (
        "fisher_test",
        [(1, 0.10, 0.50, "Sí"), (0, 0.60, 1.40, "No sé, +pues+ tal vez")],
    ),
}
# how each .tdf is written: (end of line, byte-order mark)
FISHER_TDF_STYLE = {"20050101_120000_101_fsp": ("\r\n", False), "20050102_120000_102_fsp": ("\n", True)}
# (mapping line ids, English references (one, or four for the multi-reference sets)). Quirks: carriage
# returns inside lines (fisher_dev.en.0 and callhome_train.en), references of punctuation only (kept in the
# evaluation sets, dropped from fisher_train), an empty fourth reference.
FISHER_MAPPING = {
    "fisher_train": [
        ("20050101_120000_101_fsp", "1", ["Hello, okay, how are you?"]),
        ("20050101_120000_101_fsp", "2_3", ["Fine, thanks, and you? Very well."]),
        ("20050101_120000_101_fsp", "4", ["Bye."]),
        ("20050101_120000_101_fsp", "5", ["."]),
    ],
    "fisher_dev": [
        (
            "20050102_120000_102_fsp",
            "1",
            ["Where do you\r live?", "Where do you live", "Where's your home?", "Where do you reside?"],
        ),
        ("20050102_120000_102_fsp", "2", ["In Madrid.", "In Madrid", "--", ""]),
    ],
    "fisher_dev2": [
        (
            "20050103_120000_103_fsp",
            "1",
            ["I like soccer.", "I like football.", "I love soccer.", "Soccer, I like it."],
        ),
        ("20050103_120000_103_fsp", "2", ["]", "Of course.", "Sure.", "Clearly."]),
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
    "sp_0003": ("evltest", ["0.10 0.90 A: Está bien {breath}", "1.00 1.50 B: Ajá"]),
}
CALLHOME_MAPPING = {
    "callhome_train": [
        ("sp_0001", "2", "How are you,\r mom?"),
        ("sp_0001", "3_4", "Fine, okay,\r dear. Yes."),
    ],
    "callhome_devtest": [("sp_0002", "1_2", "New year. Happy new year.")],
    "callhome_evltest": [("sp_0003", "1", "It's fine."), ("sp_0003", "2", "--")],
}
FISHER_FREQ = (400.0, 1000.0)
CALL_SECONDS = 3.0


def _translation_repository(root: Path, mapping: dict[str, list[tuple[str, str, list[str]]]]) -> None:
    """``mapping/<split>`` and ``corpus/ldc/<split>.en[.k]`` of Post et al.'s repository under ``root``."""
    for split, entries in mapping.items():
        write_text(root / "mapping" / split, [f"{call} {ids}" for call, ids, _ in entries])
        names = [f"{split}.en"] if len(entries[0][2]) == 1 else [f"{split}.en.{k}" for k in range(4)]
        for k, name in enumerate(names):
            write_text(root / "corpus/ldc" / name, [refs[k] for _, _, refs in entries])


def _fisher_call(dirs: dict[str, Path], call: str, lines: list, eol: str = "\n", bom: bool = False) -> None:
    write_sphere(dirs["fisher_audio_dir"] / "data/speech" / f"{call}.sph", tones(list(FISHER_FREQ), CALL_SECONDS))
    body = [
        f"{call}.sph\t{ch}\t{start}\t{end}\tSpeaker {'AB'[ch]}\tfemale\tnative\t{text}\t0\t{i}\t-1\treport\tstatement"
        for i, (ch, start, end, text) in enumerate(lines)
    ]
    path = dirs["fisher_transcript_dir"] / "fisher_spa_tr/data/transcripts" / f"{call}.tdf"
    write_text(path, TDF_HEADER + body, eol=eol, bom=bom)


def _callhome_call(dirs: dict[str, Path], call: str, part: str, lines: list[str], seconds: float) -> None:
    audio = dirs["callhome_audio_dir"] / "CALLHOME/SPANISH/SPEECH" / part.upper() / f"{call.upper()}.SPH"
    write_sphere(audio, tones(list(FISHER_FREQ), seconds))
    path = dirs["callhome_transcript_dir"] / "callhome_spanish_trans_970711/transcrp" / part / f"{call}.txt"
    write_text(path, lines, encoding="iso-8859-1", eol="\r\n" if part == "devtest" else "\n")


def _fisher_dirs(root: Path) -> dict[str, Path]:
    return {
        "fisher_audio_dir": root / "LDC2010S01",
        "fisher_transcript_dir": root / "LDC2010T04",
        "callhome_audio_dir": root / "LDC96S35",
        "callhome_transcript_dir": root / "LDC96T17",
        "translation_dir": root / "fisher-callhome-corpus",
    }


def make_fisher_callhome(root: Path) -> dict[str, Path]:
    """Write miniature LDC2010S01/T04, LDC96S35/T17 and the translation repository under ``root``."""
    dirs = _fisher_dirs(root)
    for call, (_, lines) in FISHER_CALLS.items():
        _fisher_call(dirs, call, lines, *FISHER_TDF_STYLE.get(call, ("\n", False)))
    for call, (part, lines) in CALLHOME_CALLS.items():
        _callhome_call(dirs, call, part, lines, CALL_SECONDS)
    single = {split: [(call, ids, [en]) for call, ids, en in entries] for split, entries in CALLHOME_MAPPING.items()}
    _translation_repository(dirs["translation_dir"], {**FISHER_MAPPING, **single})
    return dirs


# The published Fisher/CALLHOME splits in miniature: (segments, of which the first reference is punctuation
# only, lines of the first reference file with a carriage return inside). The carriage returns are at the
# published counts (fisher_dev.en.0: 1, fisher_test.en.0: 17, callhome_train.en: 2). Expected segment counts:
# every segment in the evaluation splits, segments minus the punctuation-only ones in the training splits.
MINIATURE = {
    "fisher_train": (30, 3, 0),
    "fisher_dev": (40, 2, 1),
    "fisher_dev2": (40, 1, 0),
    "fisher_test": (36, 2, 17),
    "callhome_train": (15, 1, 2),
    "callhome_devtest": (40, 1, 0),
    "callhome_evltest": (18, 1, 0),
}
MINIATURE_EVALUATION = ("fisher_dev", "fisher_dev2", "fisher_test", "callhome_devtest", "callhome_evltest")
_PUNCTUATION_ONLY = ("--", "]", ".", ",", "...")
_SEGMENT_SECONDS = 0.3


def miniature_expected_counts() -> dict[str, int]:
    """The segment count of each miniature split, by construction."""
    return {
        split: n if split in MINIATURE_EVALUATION else n - punctuation
        for split, (n, punctuation, _) in MINIATURE.items()
    }


def _miniature_references(split: str, n: int, punctuation: int, carriage_returns: int) -> list[list[str]]:
    """Per segment, its references: punctuation-only first references every few segments, ``\\r`` inside."""
    step = n // (punctuation + 1)
    punctuation_at = {step * (k + 1) for k in range(punctuation)}
    with_cr = [i for i in range(n) if i not in punctuation_at][:carriage_returns]
    count = 4 if split.startswith("fisher_") and split != "fisher_train" else 1
    refs = []
    for i in range(n):
        first = _PUNCTUATION_ONLY[i % len(_PUNCTUATION_ONLY)] if i in punctuation_at else f"Segment {i}, so."
        if i in with_cr:
            first = first.replace(", ", ",\r ")
        others = [f"Reference {k} of {i}." if (i + k) % 7 else "?" for k in range(1, count)]
        refs.append([first] + others)
    return refs


def make_fisher_callhome_miniature(root: Path) -> dict[str, Path]:
    """Write every Fisher/CALLHOME split at the sizes of :data:`MINIATURE`, one call per split."""
    dirs = _fisher_dirs(root)
    mapping = {}
    for number, (split, (n, punctuation, carriage_returns)) in enumerate(MINIATURE.items()):
        times = [(round(0.2 + i * _SEGMENT_SECONDS, 2), round(0.4 + i * _SEGMENT_SECONDS, 2)) for i in range(n)]
        seconds = times[-1][1] + 0.5
        if split.startswith("fisher_"):
            call = f"2006010{number}_120000_{200 + number}_fsp"
            lines = [(i % 2, start, end, f"palabra {i}") for i, (start, end) in enumerate(times)]
            write_sphere(dirs["fisher_audio_dir"] / "data/speech" / f"{call}.sph", tones(list(FISHER_FREQ), seconds))
            body = [
                f"{call}.sph\t{ch}\t{start}\t{end}\tSpeaker\tfemale\tnative\t{text}\t0\t{i}\t-1\treport\tstatement"
                for i, (ch, start, end, text) in enumerate(lines)
            ]
            write_text(dirs["fisher_transcript_dir"] / "data/transcripts" / f"{call}.tdf", TDF_HEADER + body)
        else:
            call = f"sp_{1000 + number}"
            part = split.split("_")[1]
            lines = [f"{start:.2f} {end:.2f} {'AB'[i % 2]}: palabra número {i}" for i, (start, end) in enumerate(times)]
            _callhome_call(dirs, call, part, lines, seconds)
        refs = _miniature_references(split, n, punctuation, carriage_returns)
        mapping[split] = [(call, str(i + 1), refs[i]) for i in range(n)]
    _translation_repository(dirs["translation_dir"], mapping)
    return dirs


# ---------------------------------------------------------------- HKUST Mandarin

# call -> (split, transcript lines, end of line). Quirks: GBK, CRLF, tabs and several blanks between the
# fields, trailing blanks, translations of punctuation only (dropped from train, kept in dev).
HKUST_CALLS = {
    "20040101_100000_A000001_B000002": (
        "train",
        [
            "# 20040101_100000_A000001_B000002",
            "",
            '0.10 0.90 A: 你好，{breath} 我是 <foreign language="English">Tom</foreign>。',
            "1.00\t1.60\tB:\t嗯 ((听到)) 了！  ",
            "1.70 1.90 A: {laugh}",
            "2.00  2.40 B: 对",
        ],
        "\r\n",
    ),
    "20040102_100000_A000003_B000004": (
        "dev",
        ["0.20 0.80 B: 再见", "0.90 1.50 A: %呃 好的 ～ ", "1.60 1.90 B: 嗯"],
        "\n",
    ),
}
HKUST_TRANSLATIONS = [
    "# call\tside\tstart\tend\tEnglish",
    "20040101_100000_A000001_B000002\tB\t1.0\t1.6\tUm, I\r (heard) it! ",
    "20040101_100000_A000001_B000002\tA\t0.100\t0.900\tHello, I am Tom.",
    "20040101_100000_A000001_B000002\tB\t2.0\t2.4\t--",
    "20040102_100000_A000003_B000004\t1\t0.2\t0.8\tGoodbye",
    "20040102_100000_A000003_B000004\t0\t0.9\t1.5\tUh, okay.",
    "20040102_100000_A000003_B000004\tB\t1.6\t1.9\t...",
]


def make_hkust(root: Path, transcript_encoding: str = "gbk") -> dict[str, Path]:
    """Write miniature LDC2005S15 / LDC2005T32 and a translation TSV (UTF-8 with a BOM, CRLF) under ``root``."""
    dirs = {
        "audio_dir": root / "LDC2005S15",
        "transcript_dir": root / "LDC2005T32",
        "translation_tsv": root / "hkust_translations.tsv",
    }
    for call, (part, lines, eol) in HKUST_CALLS.items():
        write_sphere(
            dirs["audio_dir"] / "hkust_mcts_p1/audio" / part / f"{call}.sph", tones(list(FISHER_FREQ), CALL_SECONDS)
        )
        path = dirs["transcript_dir"] / "hkust_mcts_p1tr/data/trans" / part / f"{call}.txt"
        write_text(path, lines, encoding=transcript_encoding, eol=eol)
    write_text(dirs["translation_tsv"], HKUST_TRANSLATIONS, eol="\r\n", bom=True)
    return dirs


def copy_tree(source: Path, destination: Path) -> Path:
    """Copy a fixture tree (to damage one copy without touching the shared one)."""
    shutil.copytree(source, destination)
    return destination
