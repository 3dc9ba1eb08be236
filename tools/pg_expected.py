#!/usr/bin/env python3
"""Fills in the expected results of a sqllogictest file from a real PostgreSQL.

Usage: tools/pg_expected.py FILE.slt [--write]

Runs every record of FILE against a scratch database on the local PostgreSQL
(as the `postgres` OS user, through psql) and prints the file with each
`query` record's expected rows replaced by what PostgreSQL returned. Records
that PostgreSQL rejects are reported on stderr; `statement error` records are
checked to fail. With --write the file is rewritten in place. Query records
keep their sort mode; values are printed the way tests/sqllogic.rs prints
ours (NULL, (empty), PostgreSQL's text output). EXPLAIN records are left as
they are (plan shapes are HeliosDB's own).
"""
import subprocess
import sys

DB = "slt_scratch"
SEP = "\x1f"


def psql(sql, db=DB):
    cmd = ["su", "postgres", "-c",
           f"psql -X -q -A -t -v ON_ERROR_STOP=1 -P null=NULL -F $'\\x1f' -d {db}"]
    p = subprocess.run(cmd, input=sql + "\n", capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def records(lines):
    """Splits a file into (header lines, body lines) blocks."""
    i = 0
    while i < len(lines):
        if lines[i].startswith(("statement", "query")):
            start = i
            i += 1
            while i < len(lines) and lines[i].strip() != "":
                i += 1
            yield lines[start:i]
        else:
            yield [lines[i]]
            i += 1


def main():
    path = sys.argv[1]
    write = "--write" in sys.argv
    psql(f"DROP DATABASE IF EXISTS {DB}", "postgres")
    rc, _, err = psql(f"CREATE DATABASE {DB}", "postgres")
    if rc != 0:
        sys.exit(err)
    out = []
    failed = 0
    for block in records(open(path).read().split("\n")):
        head = block[0]
        if not head.startswith(("statement", "query")):
            out.extend(block)
            continue
        if "----" in block:
            sql_lines = block[1:block.index("----")]
        else:
            sql_lines = block[1:]
        sql = "\n".join(sql_lines)
        if sql.lstrip().upper().startswith("EXPLAIN"):
            # Plan shapes are our own; PostgreSQL prints costs and other plans.
            out.extend(block)
            continue
        rc, stdout, err = psql(sql + ";")
        if head.startswith("statement ok") or (head.startswith("query") and "error" not in head):
            if rc != 0:
                failed += 1
                print(f"PostgreSQL rejected:\n{sql}\n{err}", file=sys.stderr)
        elif rc == 0:
            failed += 1
            print(f"PostgreSQL accepted an error record:\n{sql}", file=sys.stderr)
        if head.startswith("query") and "error" not in head:
            rows = []
            for line in stdout.split("\n"):
                if line == "":
                    continue
                vals = ["(empty)" if v == "" else v for v in line.split(SEP)]
                rows.append(" ".join(vals))
            if "rowsort" in head:
                rows.sort()
            elif "valuesort" in head:
                rows = sorted(v for r in rows for v in r.split(" "))
            out.extend([head] + sql_lines + ["----"] + rows)
        else:
            out.extend(block)
    text = "\n".join(out)
    if write:
        open(path, "w").write(text)
    else:
        print(text)
    psql(f"DROP DATABASE IF EXISTS {DB}", "postgres")
    if failed:
        sys.exit(f"{failed} record(s) disagreed with PostgreSQL")


if __name__ == "__main__":
    main()
