#!/bin/sh
# Turns every file under a directory into C: embed-dir.sh DIR > out.c
# defines  const struct console_file console_files[]  (include/gatehouse/console.h):
# name (relative to DIR), bytes (any content), length; sorted by name, ended by NULL.
set -eu
dir=$1
files=$(cd "$dir" && find . -type f ! -name '.*' | sed 's|^\./||' | LC_ALL=C sort)
for f in $files; do
	case $f in
	*[!A-Za-z0-9._/-]*) echo "embed-dir.sh: $dir/$f: names are A-Z a-z 0-9 . _ - /" >&2; exit 1;;
	esac
done
printf '/* generated from %s/ by scripts/embed-dir.sh: do not edit */\n' "$dir"
printf '#include "gatehouse/console.h"\n\n'
i=0
for f in $files; do
	printf 'static const unsigned char f%d[] = {\n' "$i"
	od -An -v -tx1 "$dir/$f" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/\t/'
	printf '\t0\n};\n'
	i=$((i + 1))
done
printf 'const struct console_file console_files[] = {\n'
i=0
for f in $files; do
	printf '\t{ "%s", f%d, %d },\n' "$f" "$i" "$(wc -c < "$dir/$f")"
	i=$((i + 1))
done
printf '\t{ NULL, NULL, 0 }\n};\nconst size_t console_nfiles = %d;\n' "$i"
