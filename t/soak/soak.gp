# SPDX-License-Identifier: MIT
# Plots a soak run: gnuplot -e "data='soak.dat'; out='soak.png'" t/soak/soak.gp
set terminal pngcairo size 1000,900 font ",10"
set output out
set multiplot layout 3,1 title "weft soak: echo, offload and SQLite query load from 7 threads (make soak)"
set xlabel "seconds"
set grid
set key top left
set ylabel "KiB"
set y2label "open fds"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:*]
set key bottom right
plot data using 1:2 with linespoints title "RSS (KiB)" axes x1y1, \
     data using 1:3 with linespoints title "open fds" axes x1y2
unset y2label
unset y2tics
set ytics mirror
set autoscale y
set key top left
set ylabel "ms"
plot data using 1:4 with linespoints title "loop lag, mean", \
     data using 1:5 with linespoints title "loop lag, max"
set ylabel "requests/s"
plot data using 1:6 with linespoints title "echo", \
     data using 1:7 with linespoints title "offload", \
     data using 1:8 with linespoints title "database query"
unset multiplot
