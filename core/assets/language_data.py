"""WordNet 3.0 and a part-of-speech tagger for the content-integrity score (fetch step).

nltk's own data downloads cannot work offline, so when nltk's WordNet is not installed we
take Debian's `wordnet-base` and `wordnet-sense-index` packages (apt-get download +
dpkg-deb -x, no root install needed) and lay them out as an nltk data folder under DIFFCHAT_HOME/data/nltk_data. Debian
ships every database file nltk's reader opens except `lexnames`, whose table is printed in
the package's own lexnames(5WN) manual page; we write the file from that table.

The tagger is nltk's averaged perceptron when its data is installed, otherwise TextBlob's
PatternTagger (the Brill-style lexicon and contextual rules shipped inside the textblob
wheel). Both are data-driven taggers that ship in packages; see core/nlp.py.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from core.errors import ModelUnavailableError
from core.paths import data_dir

WORDNET_FILES = (
    "adj.exc", "adv.exc", "noun.exc", "verb.exc", "cntlist.rev",
    "data.adj", "data.adv", "data.noun", "data.verb",
    "index.adj", "index.adv", "index.noun", "index.verb", "index.sense",
)  # fmt: skip
# Syntactic category numbers of lexnames(5WN): noun 1, verb 2, adjective 3, adverb 4.
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def nltk_data_dir() -> Path:
    """Return DIFFCHAT_HOME/data/nltk_data, the nltk data folder DiffChat adds to nltk's path."""
    return data_dir() / "nltk_data"


def register_nltk_path() -> None:
    """Put our nltk data folder first on nltk's search path (idempotent)."""
    import nltk

    folder = str(nltk_data_dir())
    if folder not in nltk.data.path:
        nltk.data.path.insert(0, folder)


def _wordnet_installed() -> bool:
    import nltk

    register_nltk_path()
    try:
        nltk.data.find("corpora/wordnet")
        return True
    except LookupError:
        return False


def is_ready() -> bool:
    """Return True when nltk can open WordNet (ours or nltk's own); the tagger always ships."""
    return _wordnet_installed()


def _lexnames_from_manpage(manpage: Path) -> str:
    """Return the `lexnames` file body from the table in lexnames(5WN)."""
    rows = []
    for line in gzip.open(manpage, "rt", encoding="utf-8", errors="replace"):
        match = re.match(r"^(\d\d)\s+((noun|verb|adj|adv)\.[A-Za-z]+)\s", line)
        if match:
            number, name, category = match.group(1), match.group(2), match.group(3)
            rows.append(f"{number}\t{name}\t{_CATEGORY[category]}")
    if len(rows) != 45:
        raise ModelUnavailableError(
            f"Could not read the 45 lexicographer files from {manpage} (found {len(rows)})."
        )
    return "\n".join(rows) + "\n"


DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")


def _download_wordnet_debs(into: Path) -> Path:
    """Download and unpack Debian's WordNet packages into `into`; return the unpacked root."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise ModelUnavailableError(
            "WordNet is missing and this system has no apt-get/dpkg-deb to fetch Debian's "
            "wordnet-base. Install nltk's WordNet instead: `python -m nltk.downloader wordnet` "
            "on a machine with internet."
        )
    result = subprocess.run(
        ["apt-get", "download", *DEBIAN_PACKAGES], cwd=into, capture_output=True, text=True
    )
    debs = sorted(into.glob("wordnet-*.deb"))
    if result.returncode != 0 or len(debs) != len(DEBIAN_PACKAGES):
        raise ModelUnavailableError(
            "Could not download Debian's wordnet-base package "
            f"({result.stderr.strip()[-300:]}). Run `apt-get update` first, or install it with "
            "`apt-get install wordnet-base wordnet-sense-index`."
        )
    root = into / "unpacked"
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def fetch(force: bool = False) -> str:
    """Install WordNet for nltk when missing and return a one-line summary."""
    if not force and is_ready():
        return f"WordNet ready ({nltk_data_dir()} or nltk's own data); tagger ready"
    target = nltk_data_dir() / "corpora" / "wordnet"
    with tempfile.TemporaryDirectory() as tmp:
        source_root = Path("/")  # the packages may already be installed system-wide
        needed = [source_root / "usr/share/wordnet" / name for name in WORDNET_FILES]
        needed.append(source_root / "usr/share/man/man5/lexnames.5WN.gz")
        if not all(path.is_file() for path in needed):
            source_root = _download_wordnet_debs(Path(tmp))
        source = source_root / "usr/share/wordnet"
        staging = target.with_name("wordnet.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in WORDNET_FILES:
            shutil.copyfile(source / name, staging / name)
        lexnames_page = source_root / "usr/share/man/man5/lexnames.5WN.gz"
        (staging / "lexnames").write_text(_lexnames_from_manpage(lexnames_page))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    if not is_ready():
        raise ModelUnavailableError(f"WordNet was copied to {target} but nltk cannot open it.")
    return f"WordNet 3.0 from Debian's wordnet-base installed in {target}; tagger ready"
