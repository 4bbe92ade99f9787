"""Extract the JSON samples of Huggy's webhook docs that only tests need into tests/payloads/.

Huggy's page puts a column of line numbers after each sample; the extractor
takes each balanced ``{...}`` block that parses as JSON and ignores the rest.
A delivery of one event whose object is its shipped sample
(``flask_huggy/samples/<name>.json``) is left out: the tests read the shipped
sample (``tests/conftest.py``'s ``load_payload``), so there is no copy to keep in
step. Run it again whenever ../shared/huggy-webhook-docs.txt changes:

    python tests/extract_payloads.py ../shared/huggy-webhook-docs.txt tests/payloads
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent.parent / "flask_huggy" / "samples"


def json_blocks(text: str) -> list[object]:
    """Every top-level ``{...}`` block of ``text`` that is valid JSON, in order."""
    decoder = json.JSONDecoder()
    found: list[object] = []
    index = 0
    while (start := text.find("{", index)) != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        found.append(obj)
        index = end
    return found


def file_name(sample: dict, seen: dict[str, int]) -> str:
    if "validToken" in sample:
        stem = "handshake"
    else:
        stem = "+".join(sample.get("messages", {})) or "empty"
    seen[stem] = seen.get(stem, 0) + 1
    suffix = "" if seen[stem] == 1 else f"-{seen[stem]}"
    return f"{stem}{suffix}.json"


def is_shipped(file: str, sample: dict) -> bool:
    """Whether ``sample`` is one event whose object is the package's own sample of it."""
    events = sample.get("messages", {})
    name = file.removesuffix(".json")
    shipped = SHIPPED / file
    return (
        list(events) == [name]
        and len(events[name]) == 1
        and shipped.exists()
        and json.loads(shipped.read_text(encoding="utf-8")) == events[name][0]
    )


def main(docs: str, out: str) -> int:
    text = Path(docs).read_text(encoding="utf-8")
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    samples = [s for s in json_blocks(text) if isinstance(s, dict) and ("messages" in s or "validToken" in s)]
    for sample in samples:
        name = file_name(sample, seen)
        if is_shipped(name, sample):
            continue
        (target / name).write_text(json.dumps(sample, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(name)
    print(f"samples written to {target}, but those the package ships", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
