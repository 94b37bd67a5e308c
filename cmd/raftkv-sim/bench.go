package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/raftkv/raftkv/sim"
)

// runBench runs one of the simulator's benchmarks and prints its table.
func runBench(stdout, stderr io.Writer, which string, keys int) int {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	switch which {
	case "reads":
		fmt.Fprintln(stdout, "reads on a simulated 3-member cluster: 0.5ms links, 1ms disk syncs, closed-loop clients, 5 simulated seconds")
		fmt.Fprintln(tw, "reads via\tclients\treads/sim-s\tmean ms\tmsgs/read\tsyncs/read\twall µs/read\t")
		for _, clients := range []int{1, 8, 64} {
			for _, via := range []sim.ReadVia{sim.ReadViaIndex, sim.ReadViaLease, sim.ReadViaLog} {
				r, err := sim.BenchReads(via, clients, 1, 5000)
				if err != nil {
					fmt.Fprintln(stderr, err)
					return exitCrash
				}
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.3f\t%.1f\t\n", via, clients, r.PerSecond(), r.MeanLatencyMs(),
					float64(r.Messages)/float64(r.Reads), float64(r.Syncs)/float64(r.Reads), float64(r.WallNs)/1e3/float64(r.Reads))
			}
		}
	case "catchup":
		fmt.Fprintf(stdout, "a new member catching up with a %d-key key space by InstallSnapshot (3 members, 0.5ms links)\n", keys)
		fmt.Fprintln(tw, "link\tchunk\tsnapshot MB\tchunks\tcaught up (sim)\tideal (bytes/bandwidth)\tpromoted (sim)\twall\t")
		for _, bw := range []float64{12.5, 125} {
			for _, chunk := range []uint64{64 << 10, 1 << 20, 8 << 20} {
				r, err := sim.BenchCatchUp(keys, bw, chunk)
				if err != nil {
					fmt.Fprintln(stderr, err)
					return exitCrash
				}
				ideal := time.Duration(float64(r.SnapshotBytes) / (bw * 1e6) * 1e9)
				fmt.Fprintf(tw, "%g Mbit/s\t%d KiB\t%.1f\t%d\t%v\t%v\t%v\t%v\t\n", bw*8, chunk>>10, float64(r.SnapshotBytes)/1e6,
					r.SnapMessages, time.Duration(r.CaughtUpNs).Round(time.Millisecond), ideal.Round(time.Millisecond),
					time.Duration(r.PromotedNs).Round(time.Millisecond), time.Duration(r.WallNs).Round(time.Millisecond))
			}
		}
	default:
		fmt.Fprintf(stderr, "raftkv-sim: unknown benchmark %q (want reads or catchup)\n", which)
		return exitUsage
	}
	tw.Flush()
	return exitOK
}
