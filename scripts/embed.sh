#!/bin/sh
# Turns a text file into C: embed.sh FILE SYMBOL > out.c
# defines  const char SYMBOL[]  (NUL-terminated) and  const unsigned long SYMBOL_len.
set -eu
printf '/* generated from %s by scripts/embed.sh: do not edit */\n' "$1"
printf 'const char %s[] =\n' "$2"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$1"
printf '\t;\nconst unsigned long %s_len = sizeof %s - 1;\n' "$2" "$2"
