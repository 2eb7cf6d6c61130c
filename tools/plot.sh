#!/usr/bin/env bash
# Test-error curves of one or more runs (their log.csv) to PNG and SVG with gnuplot,
# like the paper's Fig. 3; with COLUMN=grad_magnitude, the Fig. 7 curve instead.
#   tools/plot.sh runs/a runs/b          (or: make plot RUNS="runs/a runs/b")
# Writes PLOT_OUT (default plot).png and .svg.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: tools/plot.sh RUN_DIR [RUN_DIR...]" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
column=${COLUMN:-test_error}
out=${PLOT_OUT:-plot}
for dir in "$@"; do
    [ -f "$dir/log.csv" ] || { echo "plot: $dir/log.csv not found" >&2; exit 1; }
done
idx=$(head -1 "$1/log.csv" | tr ',' '\n' | grep -n -x "$column" | cut -d: -f1)
[ -n "$idx" ] || { echo "plot: no column '$column' in $1/log.csv" >&2; exit 1; }
scale=100; ylabel="test error (%)"
if [ "$column" != "test_error" ] && [ "$column" != "val_error" ] && [ "$column" != "train_error" ]; then
    scale=1; ylabel=$column
fi
series=""
for dir in "$@"; do
    [ -n "$series" ] && series="$series, "
    series="$series'$dir/log.csv' using 1:(\$$idx*$scale) with lines lw 2 title '$(basename "$dir")'"
done
for term in "pngcairo size 800,500" "svg size 800,500"; do
    ext=${term%% *}; ext=${ext%cairo}
    gnuplot <<GP
set terminal $term noenhanced
set output '$out.$ext'
set datafile separator ','
set key top right
set grid
set xlabel 'epoch'
set ylabel '$ylabel'
plot $series
GP
done
echo "plot: wrote $out.png and $out.svg"
