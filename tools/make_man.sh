#!/usr/bin/env bash
# Writes a man page (troff, section 1) for one of the programs from its own --help
# and --version, so the page cannot drift from the program:
#   tools/make_man.sh PROGRAM_PATH "one-line description" > NAME.1
# The usage line becomes the SYNOPSIS, the rest of --help is kept as written
# (preformatted) under OPTIONS.
set -eu
[ $# -eq 2 ] || { echo "usage: tools/make_man.sh PROGRAM \"description\"" >&2; exit 2; }
program=$1 description=$2
name=$(basename "$program")
help=$("$program" --help) || { echo "make_man: $program --help failed" >&2; exit 1; }
version=$("$program" --version) || { echo "make_man: $program --version failed" >&2; exit 1; }
# troff: a leading . or ' starts a request and \ escapes: quote them in the text.
escape() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }
usage=$(printf '%s\n' "$help" | grep -m1 '^usage: ' | sed 's/^usage: //')
[ -n "$usage" ] || { echo "make_man: $program --help has no 'usage:' line" >&2; exit 1; }
cat <<HEAD
.TH ${name^^} 1 "" "$version" "User Commands"
.SH NAME
$name \\- $description
.SH SYNOPSIS
.nf
$(printf '%s\n' "$usage" | escape)
.fi
.SH OPTIONS
.nf
$(printf '%s\n' "$help" | grep -v '^usage: ' | escape)
.fi
.SH SEE ALSO
HEAD
for other in sdtrain sdexport sdinfer; do
    [ "$other" = "$name" ] || printf '.BR %s (1)\n' "$other"
done
