#!/usr/bin/env python3
"""Writes the regency's places from data/kubu-raya-villages.csv into data/catalog.json.

    tools/places_to_catalog.py [--csv PATH] [--catalog PATH] [--regency-name NAME] [--check]

The catalog's "places" section (sync/include/mpp/sync/catalog.h) is replaced, or added as the
last member of the document when it has none; every other byte of the file stays as it was (the
catalog is formatted by hand, one agency or field a line), and nothing else changes: not the
catalog's version either, which whoever publishes the catalog decides. --check changes nothing
and exits 1 when the file is not what this script would write (for CI).

The CSV (data/README.md) has the columns code,kind,name,district_code,district_name, kind being
"district" or "desa"; its codes are Kemendagri's, not BPS's. Only the standard library is used.
"""
import argparse
import csv
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
DISTRICT_CODE = re.compile(r"^\d\d\.\d\d\.\d\d$")
VILLAGE_CODE = re.compile(r"^\d\d\.\d\d\.\d\d\.\d{4}$")


def read_places(path):
    """(districts, villages) from the CSV, checked: codes well formed and unique, every village
    in a listed district whose code is its prefix, one regency. Exits with a message naming the
    line otherwise."""
    districts, villages, seen = [], [], set()

    def fail(line, what):
        sys.exit(f"{path}:{line}: {what}")

    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header != ["code", "kind", "name", "district_code", "district_name"]:
            sys.exit(f"{path}:1: the header must be code,kind,name,district_code,district_name")
        for line, row in enumerate(rows, start=2):
            if len(row) != 5:
                fail(line, f"{len(row)} columns, not 5")
            code, kind, name, district_code, district_name = (c.strip() for c in row)
            if not name:
                fail(line, "the name is empty")
            if code in seen:
                fail(line, f"{code} appears twice")
            seen.add(code)
            if kind == "district":
                if not DISTRICT_CODE.match(code) or code.endswith(".00"):
                    fail(line, f"district code {code!r} must look like 61.12.01")
                if (district_code, district_name) != (code, name):
                    fail(line, "a district row repeats its own code and name")
                districts.append({"code": code, "name": name})
            elif kind in ("desa", "kelurahan"):
                if not VILLAGE_CODE.match(code) or code.endswith(".0000"):
                    fail(line, f"village code {code!r} must look like 61.12.05.2001")
                district = next((d for d in districts if d["code"] == district_code), None)
                if district is None:
                    fail(line, f"district {district_code} is not listed before its villages")
                if district["name"] != district_name:
                    fail(line, f"district {district_code} is {district['name']}, "
                               f"not {district_name}")
                if not code.startswith(district_code + "."):
                    fail(line, f"{code} does not start with its district's code {district_code}")
                villages.append({"code": code, "name": name, "district": district_code})
            else:
                fail(line, f"kind {kind!r} is none of district, desa, kelurahan")
    if not districts or not villages:
        sys.exit(f"{path}: no districts or no villages")
    regencies = {d["code"][:5] for d in districts}
    if len(regencies) != 1:
        sys.exit(f"{path}: the districts lie in {len(regencies)} regencies, not one")
    return districts, villages


def entry(obj):
    return json.dumps(obj, ensure_ascii=False)


def places_text(regency, districts, villages):
    """The section as the catalog's other parts are written: one entry a line."""
    lines = ['"places": {', f'    "regency": {entry(regency)},', '    "districts": [']
    lines += [f"      {entry(d)}," for d in districts]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["    ],", '    "villages": [']
    lines += [f"      {entry(v)}," for v in villages]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["    ]", "  }"]
    return "\n".join(lines)


def top_level_member(text, key):
    """(key_start, value_end) of the top-level member `key` of the JSON object in `text`, or
    None. Strings are skipped as wholes, so a "places" inside a value is never taken."""
    decoder = json.JSONDecoder()
    i = text.index("{") + 1
    while True:
        while text[i] in " \t\r\n,":
            i += 1
        if text[i] == "}":
            return None
        name, after = decoder.raw_decode(text, i)  # the member's key
        colon = text.index(":", after)
        j = colon + 1
        while text[j] in " \t\r\n":
            j += 1
        _, end = decoder.raw_decode(text, j)
        if name == key:
            return i, end
        i = end


def with_places(text, section):
    span = top_level_member(text, "places")
    if span is not None:
        start, end = span
        return text[:start] + section + text[end:]
    close = text.rindex("}")
    body = text[:close].rstrip()
    return body + ",\n  " + section + "\n" + text[close:]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", default=os.path.join(ROOT, "data", "kubu-raya-villages.csv"))
    ap.add_argument("--catalog", default=os.path.join(ROOT, "data", "catalog.json"))
    ap.add_argument("--regency-name", default="Kubu Raya",
                    help="the regency's name, for messages (default: Kubu Raya)")
    ap.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 when the catalog's places differ from the CSV")
    a = ap.parse_args()

    districts, villages = read_places(a.csv)
    regency = {"code": districts[0]["code"][:5], "name": a.regency_name}
    with open(a.catalog, encoding="utf-8", newline="") as f:
        old = f.read()
    new = with_places(old, places_text(regency, districts, villages))

    # Nothing but the places may differ, and the result must still be one JSON object.
    before, after = json.loads(old), json.loads(new)
    before.pop("places", None)
    places = after.pop("places")
    assert before == after, "a member other than places changed"
    assert places == {"regency": regency, "districts": districts, "villages": villages}

    if a.check:
        if new != old:
            sys.exit(f"{a.catalog}: its places differ from {a.csv}; "
                     f"run tools/places_to_catalog.py")
        return
    if new != old:
        with open(a.catalog, "w", encoding="utf-8", newline="") as f:
            f.write(new)
    print(f"{a.catalog}: {len(districts)} districts, {len(villages)} villages of "
          f"{regency['name']} ({regency['code']})")


if __name__ == "__main__":
    main()
