// Package run holds what the papers/ reproductions share: the command
// line (-out, -j) and results.md, running independent trials on every
// core with a progress bar, writing CSV, and saving gonum plots as SVG
// and PNG.
//
// Each trial is a function of its index only (the simulator is
// deterministic per seed), so results do not depend on how many trials run
// at once or in what order they finish.
package run

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Parallel runs fn(i) for i in [0, n) on jobs goroutines (0: one per
// core), showing a progress bar on bar (nil: none). It returns the first
// error, after every started trial has finished.
func Parallel(n, jobs int, bar *Bar, fn func(i int) error) error {
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(jobs, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				mu.Lock()
				stop := first != nil
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
				bar.Add(1)
			}
		}()
	}
	wg.Wait()
	return first
}

// Bar is a progress bar on a terminal line: done out of total units, the
// elapsed time and an estimate of the time left. Safe for concurrent use;
// a nil *Bar does nothing.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	total int64
	done  int64
	start time.Time
	last  time.Time
}

// NewBar starts a bar of total units on w.
func NewBar(w io.Writer, label string, total int64) *Bar {
	return &Bar{w: w, label: label, total: total, start: time.Now()}
}

// Add records n more units done, redrawing at most four times a second.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if now := time.Now(); b.done >= b.total || now.Sub(b.last) >= 250*time.Millisecond {
		b.last = now
		b.draw()
	}
}

// Done ends the bar's line.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw()
	fmt.Fprintln(b.w)
}

func (b *Bar) draw() {
	const width = 30
	frac := 0.0
	if b.total > 0 {
		frac = min(1, float64(b.done)/float64(b.total))
	}
	fill := int(frac * width)
	elapsed := time.Since(b.start).Round(time.Second)
	eta := "?"
	if frac > 0 {
		eta = (time.Duration(float64(time.Since(b.start))/frac) - time.Since(b.start)).Round(time.Second).String()
	}
	fmt.Fprintf(b.w, "\r%s [%s%s] %d/%d %3.0f%% %v elapsed, %s left ", b.label,
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), b.done, b.total, 100*frac, elapsed, eta)
}

// WriteCSV writes header and rows to path.
func WriteCSV(path string, header []string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := w.Write(header); err != nil {
		f.Close()
		return err
	}
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SavePlots draws plots (rows of columns) on one page of the given size
// and writes it as base.svg and base.png.
func SavePlots(base string, width, height vg.Length, plots [][]*plot.Plot) error {
	rows, cols := len(plots), len(plots[0])
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	render := func(c vg.CanvasSizer) {
		dc := draw.New(c)
		canvases := plot.Align(plots, tiles, dc)
		for i := range rows {
			for j := range cols {
				if plots[i][j] != nil {
					plots[i][j].Draw(canvases[i][j])
				}
			}
		}
	}
	svg := vgsvg.New(width, height)
	render(svg)
	if err := writeTo(base+".svg", svg); err != nil {
		return err
	}
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(150))
	render(img)
	return writeTo(base+".png", vgimg.PngCanvas{Canvas: img})
}

func writeTo(path string, w io.WriterTo) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
