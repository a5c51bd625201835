#!/usr/bin/env python3
"""Writes one man page per genred command (genred.1, genred-retag.1, ...) from the command tree
the argument parser itself describes (`genred --experimental-dump-help`), so the pages say
exactly what `--help` says.

    tools/make_manpages.py BINARY OUTDIR
"""
import datetime
import json
import os
import subprocess
import sys


def roff(text):
    """Escapes text for a roff line: backslashes, leading dots and quotes, hyphens."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def paragraphs(text):
    out = []
    for block in text.strip().split("\n\n"):
        out.append(".PP")
        out.append(roff(" ".join(l.strip() for l in block.split("\n"))))
    return out


def option_label(arg):
    names = []
    for n in arg.get("names", []):
        dash = "--" if n["kind"] == "long" else "-"
        if n["kind"] == "longWithSingleDash":
            dash = "-"
        names.append(dash + n["name"])
    value = arg.get("valueName")
    if arg["kind"] == "positional":
        return "\\fI" + roff(value or "value") + "\\fR" + (" ..." if arg.get("isRepeating") else "")
    label = ", ".join("\\fB" + roff(n) + "\\fR" for n in names)
    if arg["kind"] == "option" and value:
        label += " \\fI" + roff(value) + "\\fR"
    return label


def synopsis(path, command):
    parts = ["\\fB" + roff(" ".join(path)) + "\\fR"]
    for arg in command.get("arguments", []):
        if not arg.get("shouldDisplay", True):
            continue
        label = option_label(arg).split(", ")[0]
        if arg["kind"] == "option" and arg.get("valueName") and " \\fI" not in label:
            label += " \\fI" + roff(arg["valueName"]) + "\\fR"
        parts.append("[" + label + "]" if arg.get("isOptional", False) else label)
    if command.get("subcommands"):
        parts.append("\\fIcommand\\fR")
    return " ".join(parts)


def page(path, command, date, version):
    name = "-".join(path)
    out = [
        '.TH "%s" "1" "%s" "genred %s" "genred manual"' % (name.upper(), date, version),
        ".SH NAME",
        roff(name) + " \\- " + roff(command.get("abstract", "")),
        ".SH SYNOPSIS",
        synopsis(path, command),
    ]
    if command.get("discussion"):
        out.append(".SH DESCRIPTION")
        out += paragraphs(command["discussion"])
    shown = [a for a in command.get("arguments", []) if a.get("shouldDisplay", True)]
    if shown:
        out.append(".SH OPTIONS")
        for arg in shown:
            out.append(".TP")
            out.append(option_label(arg))
            text = arg.get("abstract", "")
            if arg.get("defaultValue"):
                text += " (default: %s)" % arg["defaultValue"]
            if arg.get("allValues"):
                text += " (values: %s)" % ", ".join(arg["allValues"])
            out.append(roff(text))
            if arg.get("discussion"):
                out += paragraphs(arg["discussion"])
    subcommands = [c for c in command.get("subcommands", []) if c.get("shouldDisplay", True)]
    if subcommands:
        out.append(".SH COMMANDS")
        for sub in subcommands:
            out.append(".TP")
            out.append("\\fB" + roff(sub["commandName"]) + "\\fR")
            out.append(roff(sub.get("abstract", "")))
    related = ["genred-" + "-".join(path[1:] + [s["commandName"]]) for s in subcommands]
    if len(path) > 1:
        related.insert(0, "-".join(path[:-1]))
    if related:
        out.append(".SH SEE ALSO")
        out.append(", ".join("\\fB%s\\fR(1)" % roff(r) for r in related))
    return name, "\n".join(out) + "\n"


def walk(path, command, date, version, pages):
    pages.append(page(path, command, date, version))
    for sub in command.get("subcommands", []):
        if sub.get("commandName") == "help":
            continue
        walk(path + [sub["commandName"]], sub, date, version, pages)


def main():
    binary, outdir = sys.argv[1], sys.argv[2]
    tree = json.loads(subprocess.run([binary, "--experimental-dump-help"], check=True, capture_output=True).stdout)
    version = subprocess.run([binary, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    # The package build sets SOURCE_DATE_EPOCH (the changelog's date), so its pages are reproducible.
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or datetime.datetime.now(datetime.timezone.utc).timestamp())
    date = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d")
    pages = []
    walk(["genred"], tree["command"], date, version, pages)
    os.makedirs(outdir, exist_ok=True)
    for name, text in pages:
        with open(os.path.join(outdir, name + ".1"), "w") as f:
            f.write(text)
    print("wrote %d man pages to %s" % (len(pages), outdir))


if __name__ == "__main__":
    main()
