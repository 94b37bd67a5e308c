package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/raftkv/raftkv/client"
)

// The CLI tests are transcripts (testdata/*/*.txt) of command lines as a
// user types them, each with its stdout, stderr and exit code:
//
//	ctl
//	raftkvctl set /message Hello
//	----
//	stdout:
//	Hello
//	exit 0
//
// Directives:
//
//	ctl [sort] [squash] [retry]
//	                      run the command line; lines after it are stdin.
//	                      sort: sort the output lines; squash: collapse
//	                      runs of spaces (tables whose widths vary);
//	                      retry: run it again until the output matches, for
//	                      up to 10s (output an election can change).
//	ctl-start <name>      start the command in the background.
//	ctl-wait <name> lines=N
//	                      wait until it printed N lines, interrupt it
//	                      (Ctrl-C), and show its output.
//	fill key=K n=N        write K N times (through the client)
//	requests              (clienttest only) the HTTP requests since the
//	                      last "requests", as method, path and parameters.
//
// Command lines may start with VAR=value words (the environment) and use
// $names the transcript's setup defines ($C1 for a member's client URL,
// $I+3 for an index relative to the store index when the file began); the
// output has the same values replaced by the same names, so transcripts
// hold no ports, IDs or absolute indexes. Regenerate after a change with
//
//	go test ./cmd/raftkvctl -run <Test> -rewrite
//
// and review the diff.

// runner runs raftkvctl: in this process (clienttest and help tests) or as
// the built binary (real-cluster tests).
type runner struct {
	bin string            // the raftkvctl binary; "" runs in this process
	env map[string]string // the environment of every command
}

type result struct {
	stdout, stderr string
	code           int
}

// proc is a started command.
type proc struct {
	out     *lineWriter
	err     *lineWriter
	done    chan result
	stop    func()
	started time.Time
}

// lineWriter collects output and signals when it has n lines.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	waits []lineWait
}

type lineWait struct {
	n  int
	ch chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	lines := bytes.Count(w.buf.Bytes(), []byte("\n"))
	kept := w.waits[:0]
	for _, lw := range w.waits {
		if lines >= lw.n {
			close(lw.ch)
		} else {
			kept = append(kept, lw)
		}
	}
	w.waits = kept
	return len(p), nil
}

// await returns a channel closed once the writer holds n lines.
func (w *lineWriter) await(n int) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if bytes.Count(w.buf.Bytes(), []byte("\n")) >= n {
		close(ch)
		return ch
	}
	w.waits = append(w.waits, lineWait{n, ch})
	return ch
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// start starts raftkvctl with args and stdin, with extra environment.
func (r *runner) start(t *testing.T, args []string, stdin string, env map[string]string) *proc {
	t.Helper()
	p := &proc{out: &lineWriter{}, err: &lineWriter{}, done: make(chan result, 1), started: time.Now()}
	merged := map[string]string{}
	for k, v := range r.env {
		merged[k] = v
	}
	for k, v := range env {
		merged[k] = v
	}
	if r.bin == "" {
		ctx, cancel := context.WithCancel(context.Background())
		p.stop = cancel
		io := &stdio{in: strings.NewReader(stdin), out: p.out, err: p.err, getenv: func(k string) string { return merged[k] }}
		go func() {
			code := run(ctx, args, io)
			p.done <- result{p.out.String(), p.err.String(), code}
		}()
		return p
	}
	cmd := exec.Command(r.bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = p.out, p.err
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range merged {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.stop = func() { _ = cmd.Process.Signal(syscall.SIGINT) }
	go func() {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		p.done <- result{p.out.String(), p.err.String(), code}
	}()
	return p
}

// wait waits for the command to end, or fails the test after a minute.
func (p *proc) wait(t *testing.T) result {
	t.Helper()
	select {
	case res := <-p.done:
		return res
	case <-time.After(time.Minute):
		p.stop()
		t.Fatalf("command did not end within a minute; stdout so far:\n%s\nstderr:\n%s", p.out, p.err)
		return result{}
	}
}

// script runs the transcripts in files against one runner.
type script struct {
	r    *runner
	vars []subst // placeholder <-> value, for input and output
	// base is the store index when the file began: output indexes are
	// written $I+k relative to it.
	base uint64
	// normalise applies further output rewrites (latency, term, ...).
	normalise func(string) string
	// options are output rewrites a directive asks for by name.
	options  map[string]func(string) string
	requests func() []string // clienttest's request log
	nreq     int
	bg       map[string]*proc
}

type subst struct{ name, value string }

// expand replaces $names in a command line: $I+k, $I-k and the vars.
func (s *script) expand(line string) string {
	line = reRelIndex.ReplaceAllStringFunc(line, func(m string) string {
		k, _ := strconv.ParseInt(m[2:], 10, 64)
		return strconv.FormatInt(int64(s.base)+k, 10)
	})
	// Longest names first, so $C1 does not eat $C10.
	vars := append([]subst(nil), s.vars...)
	sort.Slice(vars, func(i, j int) bool { return len(vars[i].name) > len(vars[j].name) })
	for _, v := range vars {
		line = strings.ReplaceAll(line, v.name, v.value)
	}
	return line
}

var (
	reRelIndex    = regexp.MustCompile(`\$I([+-]\d+)`)
	reHeaderIndex = regexp.MustCompile(`(?m)^(Created-Index|Modified-Index|Index): (\d+)$`)
	reJSONIndex   = regexp.MustCompile(`"(createdIndex|modifiedIndex|index)":(\d+)`)
	reErrIndex    = regexp.MustCompile(`(?m)^(Error: .*)\[(\d+)\]$`)
	reCompare     = regexp.MustCompile(`\[(\d+) != (\d+)\]`)
	reCleared     = regexp.MustCompile(`cleared \[(\d+)/(\d+)\]`)
	reInOrder     = regexp.MustCompile(`/(\d{20})\b`)
	reWatchIndex  = regexp.MustCompile(`ETCD_WATCH_MODIFIED_INDEX=(\d+)`)
	reParamIndex  = regexp.MustCompile(`\b(prevIndex|waitIndex)=(\d+)`)
	reTTL         = regexp.MustCompile(`(?m)^TTL: [1-9]\d*$`)
	reJSONTTL     = regexp.MustCompile(`"ttl":[1-9]\d*`)
	reExpiration  = regexp.MustCompile(`"expiration":"[^"]*"`)
	reSpaces      = regexp.MustCompile(` {2,}`)
)

// rel writes index n relative to the base: 0 stays 0 (request errors).
func (s *script) rel(n string) string {
	v, err := strconv.ParseUint(n, 10, 64)
	if err != nil || v == 0 {
		return n
	}
	d := int64(v) - int64(s.base)
	if d < 0 {
		return fmt.Sprintf("$I%d", d)
	}
	return fmt.Sprintf("$I+%d", d)
}

// unexpand turns values in output back into placeholders.
func (s *script) unexpand(out string) string {
	vars := append([]subst(nil), s.vars...)
	sort.Slice(vars, func(i, j int) bool { return len(vars[i].value) > len(vars[j].value) })
	for _, v := range vars {
		if v.value != "" {
			out = strings.ReplaceAll(out, v.value, v.name)
		}
	}
	out = reHeaderIndex.ReplaceAllStringFunc(out, func(m string) string {
		g := reHeaderIndex.FindStringSubmatch(m)
		return g[1] + ": " + s.rel(g[2])
	})
	out = reJSONIndex.ReplaceAllStringFunc(out, func(m string) string {
		g := reJSONIndex.FindStringSubmatch(m)
		return `"` + g[1] + `":` + s.rel(g[2])
	})
	out = reErrIndex.ReplaceAllStringFunc(out, func(m string) string {
		g := reErrIndex.FindStringSubmatch(m)
		return g[1] + "[" + s.rel(g[2]) + "]"
	})
	out = reCompare.ReplaceAllStringFunc(out, func(m string) string {
		g := reCompare.FindStringSubmatch(m)
		return "[" + s.rel(g[1]) + " != " + s.rel(g[2]) + "]"
	})
	out = reCleared.ReplaceAllStringFunc(out, func(m string) string {
		g := reCleared.FindStringSubmatch(m)
		return "cleared [" + s.rel(g[1]) + "/" + s.rel(g[2]) + "]"
	})
	out = reInOrder.ReplaceAllStringFunc(out, func(m string) string {
		return "/<in-order " + s.rel(strings.TrimLeft(m[1:], "0")) + ">"
	})
	out = reWatchIndex.ReplaceAllStringFunc(out, func(m string) string {
		return "ETCD_WATCH_MODIFIED_INDEX=" + s.rel(m[len("ETCD_WATCH_MODIFIED_INDEX="):])
	})
	out = reTTL.ReplaceAllString(out, "TTL: <ttl>")
	out = reJSONTTL.ReplaceAllString(out, `"ttl":<ttl>`)
	out = reExpiration.ReplaceAllString(out, `"expiration":"<time>"`)
	if s.normalise != nil {
		out = s.normalise(out)
	}
	return out
}

// parseLine splits a command line as a POSIX shell would for simple
// words: quotes group, backslash escapes; VAR=value words before the first
// other word are the environment; a leading "raftkvctl" is dropped.
func parseLine(line string) (env map[string]string, args []string, err error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, nil, fmt.Errorf("unterminated ' in %q", line)
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, nil, fmt.Errorf("unterminated \" in %q", line)
			}
			inWord = true
		case ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	env = map[string]string{}
	for len(words) > 0 {
		k, v, ok := strings.Cut(words[0], "=")
		if !ok || k == "" || strings.ContainsAny(k, "/-") {
			break
		}
		env[k] = v
		words = words[1:]
	}
	if len(words) == 0 || words[0] != "raftkvctl" {
		return nil, nil, fmt.Errorf("a command line starts with raftkvctl: %q", line)
	}
	return env, words[1:], nil
}

func (s *script) format(res result, d *datadriven.TestData) string {
	out := s.unexpand(res.stdout)
	errOut := s.unexpand(res.stderr)
	if d.HasArg("squash") {
		out = reSpaces.ReplaceAllString(out, " ")
	}
	for name, f := range s.options {
		if d.HasArg(name) {
			out = f(out)
		}
	}
	if d.HasArg("sort") {
		out = sortLines(out)
	}
	var b strings.Builder
	if out != "" {
		b.WriteString("stdout:\n" + out)
		if !strings.HasSuffix(out, "\n") {
			b.WriteString("\n(no final newline)\n")
		}
	}
	if errOut != "" {
		b.WriteString("stderr:\n" + errOut)
		if !strings.HasSuffix(errOut, "\n") {
			b.WriteString("\n(no final newline)\n")
		}
	}
	fmt.Fprintf(&b, "exit %d\n", res.code)
	return b.String()
}

func sortLines(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// run runs one transcript file.
func (s *script) run(t *testing.T, path string) {
	s.bg = map[string]*proc{}
	datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "ctl", "ctl-start":
			lines := strings.Split(d.Input, "\n")
			env, args, err := parseLine(s.expand(lines[0]))
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			stdin := ""
			if len(lines) > 1 {
				stdin = strings.Join(lines[1:], "\n") + "\n"
			}
			if d.Cmd == "ctl-start" {
				s.bg[d.CmdArgs[0].Key] = s.r.start(t, args, stdin, env)
				return ""
			}
			if d.HasArg("retry") {
				// Output that an election in progress can change (who
				// leads, terms): run again until it matches, for a while.
				return d.RetryFor(t, 10*time.Second, func() string {
					return s.format(s.r.start(t, args, stdin, env).wait(t), d)
				})
			}
			return s.format(s.r.start(t, args, stdin, env).wait(t), d)
		case "ctl-wait":
			p := s.bg[d.CmdArgs[0].Key]
			if p == nil {
				d.Fatalf(t, "no command %s was started", d.CmdArgs[0].Key)
			}
			var n int
			d.ScanArgs(t, "lines", &n)
			select {
			case <-p.out.await(n):
			case res := <-p.done:
				d.Fatalf(t, "the command ended before printing %d lines:\n%s", n, s.format(res, d))
			case <-time.After(time.Minute):
				d.Fatalf(t, "no %d lines within a minute; stdout:\n%s\nstderr:\n%s", n, p.out, p.err)
			}
			p.stop()
			return s.format(p.wait(t), d)
		case "fill":
			// Many writes at once, through the client.
			var key string
			var n int
			d.ScanArgs(t, "key", &key)
			d.ScanArgs(t, "n", &n)
			c, err := client.New(client.Config{Endpoints: strings.Split(s.r.env["RAFTKVCTL_ENDPOINTS"], ",")})
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			for i := range n {
				if _, err := c.Set(context.Background(), key, strconv.Itoa(i), nil); err != nil {
					d.Fatalf(t, "%v", err)
				}
			}
			return ""
		case "requests":
			all := s.requests()
			got := all[s.nreq:]
			s.nreq = len(all)
			var b strings.Builder
			for _, r := range got {
				r = reParamIndex.ReplaceAllStringFunc(r, func(m string) string {
					g := reParamIndex.FindStringSubmatch(m)
					return g[1] + "=" + s.rel(g[2])
				})
				b.WriteString(s.unexpand(r) + "\n")
			}
			return b.String()
		default:
			d.Fatalf(t, "unknown directive %s", d.Cmd)
			return ""
		}
	})
}

var (
	ctlOnce sync.Once
	ctlBin  string
	ctlErr  error
)

// buildCtl builds raftkvctl once per test process.
func buildCtl(t *testing.T) string {
	t.Helper()
	ctlOnce.Do(func() {
		dir, err := os.MkdirTemp("", "raftkvctl-bin-")
		if err != nil {
			ctlErr = err
			return
		}
		ctlBin = filepath.Join(dir, "raftkvctl")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", ctlBin, ".")
		cmd.Dir = filepath.Dir(file)
		if out, err := cmd.CombinedOutput(); err != nil {
			ctlErr = fmt.Errorf("go build raftkvctl: %v\n%s", err, out)
		}
	})
	if ctlErr != nil {
		t.Fatal(ctlErr)
	}
	return ctlBin
}
