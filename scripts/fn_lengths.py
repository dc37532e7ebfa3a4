#!/usr/bin/env python3
"""Length in lines of every Rust function under the given folders (default crates/*/src), longest first.

A function runs from the line of its `fn` keyword to the line of its closing brace. Comments, string, raw-string
and char literals are skipped when matching braces. `--max N` exits 1 when any function is longer than N lines.
Usage: scripts/fn_lengths.py [--max 150] [--top 20] [DIR ...]
"""
import glob
import os
import re
import sys


def strip(src):
    """Source with comments and literals blanked (newlines kept), so braces can be matched."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j): depth += 1; j += 2
                elif src.startswith("*/", j): depth -= 1; j += 2
                else: j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j])); i = j
        elif (m := re.match(r'(b|c)?r(#*)"', src[i:i + 300])) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = '"' + m.group(2)
            j = src.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", src[i:j])); i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j])); i = j
        elif c == "'" and (m := re.match(r"'(\\.[^']*|[^\\'\n])'", src[i:i + 12])):
            out.append(" " * m.end()); i += m.end()
        else:
            out.append(c); i += 1
    return "".join(out)


def functions(path):
    src = strip(open(path, encoding="utf-8").read())
    for m in re.finditer(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)", src):
        # The body is the first `{` at the signature's own nesting (skipping `(`, `<`, `[` groups), unless a `;`
        # comes first (a trait method without a body).
        j, depth = m.end(), 0
        while j < len(src):
            ch = src[j]
            if ch in "([": depth += 1
            elif ch in ")]": depth -= 1
            elif ch == ";" and depth == 0: j = -1; break
            elif ch == "{" and depth == 0: break
            j += 1
        if j < 0 or j >= len(src):
            continue
        k, braces = j, 0
        while k < len(src):
            if src[k] == "{": braces += 1
            elif src[k] == "}":
                braces -= 1
                if braces == 0: break
            k += 1
        start = src.count("\n", 0, m.start()) + 1
        end = src.count("\n", 0, k) + 1
        yield end - start + 1, m.group(1), start


def main(argv):
    limit, top, dirs = None, 20, []
    it = iter(argv)
    for a in it:
        if a == "--max": limit = int(next(it))
        elif a == "--top": top = int(next(it))
        else: dirs.append(a)
    files = []
    for d in dirs or sorted(glob.glob("crates/*/src")):
        files += sorted(glob.glob(os.path.join(d, "**", "*.rs"), recursive=True))
    rows = sorted(((n, f"{p}:{line}", name) for p in files for n, name, line in functions(p)), reverse=True)
    for n, where, name in rows[:top]:
        print(f"{n:5}  {name}  {where}")
    over = [r for r in rows if limit is not None and r[0] > limit]
    if limit is not None:
        print(f"{len(rows)} functions in {len(files)} files; {len(over)} longer than {limit} lines")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
