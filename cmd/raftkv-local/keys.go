package main

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"time"
)

const keysHelp = `raftkv-local: commands (then Enter):
  s          status of every member
  k 2        kill m2 (SIGKILL)
  stop 2     stop m2 gracefully (SIGTERM)
  r 2        restart m2 on its data dir
  Ctrl-C     stop every member and quit
`

// readKeys carries out the commands typed on the terminal r until it
// ends or l.ctx is done. The events they cause (an exit, a restart) are
// reported by the watchers as for the control socket; only refusals are
// printed here.
func (l *local) readKeys(r io.Reader) {
	br := bufio.NewReader(r)
	for l.ctx.Err() == nil {
		line, err := br.ReadString('\n')
		if line != "" {
			l.key(strings.Fields(line))
		}
		switch {
		case errors.Is(err, io.EOF):
			return
		case err != nil:
			// Run in the background, reading the terminal fails (EIO, as
			// SIGTTIN is ignored) until the job is brought to the
			// foreground: try again now and then.
			select {
			case <-l.ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// key carries out one typed command.
func (l *local) key(f []string) {
	if len(f) == 0 {
		return
	}
	op := map[string]string{"s": "status", "k": "kill", "r": "restart", "h": "help", "?": "help"}[f[0]]
	if op == "" {
		op = f[0]
	}
	switch {
	case op == "status" && len(f) == 1:
		var b strings.Builder
		writeStatus(&b, l.status(l.ctx))
		l.printf("%s", b.String())
	case (op == "kill" || op == "stop" || op == "restart") && len(f) == 2:
		if _, err := l.do(l.ctx, op, f[1]); err != nil {
			l.printf("raftkv-local: %v\n", err)
		}
	default:
		l.printf("%s", keysHelp)
	}
}
