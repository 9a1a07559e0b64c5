# Plots requests per second and p99 latency against the number of
# connections, for nginx and event-issuer, as two PNG files.
#
# Usage: gnuplot -e "datafile='curve.dat'; outdir='DIR'" bench/plot.gp
# datafile columns: connections, nginx requests/s, event-issuer requests/s,
# nginx p99 ms, event-issuer p99 ms (bench/bench.py writes it).

set terminal pngcairo size 900,540 noenhanced font ",11"
set grid
set key top left
set logscale x 2
# Room at both ends, so the first and last connection counts get their labels.
set offsets graph 0.04, graph 0.04, 0, 0
set xlabel "connections (keep-alive, one wrk thread)"
set style data linespoints

set output outdir."/throughput.png"
set title "Single events, binary mode: requests per second"
set ylabel "requests/s"
set yrange [0:*]
plot datafile using 1:2:xtic(1) title "nginx, fixed 204" pt 7, \
     datafile using 1:3 title "event-issuer, durable commit" pt 5

set output outdir."/latency_p99.png"
set title "Single events, binary mode: p99 latency"
set ylabel "p99 latency (ms)"
set logscale y
set yrange [*:*]
plot datafile using 1:4:xtic(1) title "nginx, fixed 204" pt 7, \
     datafile using 1:5 title "event-issuer, durable commit" pt 5
