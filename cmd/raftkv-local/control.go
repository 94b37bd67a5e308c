package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"text/tabwriter"
	"time"
)

// The control socket: a running raftkv-local serves HTTP on the unix
// socket <data-dir>/control.sock (no port to pick or collide on, and only
// users who may write to the data dir may connect):
//
//	GET  /status                  statusReply as JSON
//	POST /members/{name}/kill     SIGKILL; answers once the process has exited
//	POST /members/{name}/stop     SIGTERM (graceful); likewise
//	POST /members/{name}/restart  start again on its data dir; answers once it is healthy
//
// The POST answers are text for the user, with 404 for an unknown member,
// 409 for a request that does not fit the member's state (kill an exited
// member, restart a running one) and 500 for a failure.
const socketName = "control.sock"

// commands are raftkv-local's commands against a running raftkv-local,
// with the number of member names each takes.
var commands = map[string]int{"status": 0, "kill": 1, "stop": 1, "restart": 1}

func (l *local) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(l.status(r.Context()))
	})
	mux.HandleFunc("POST /members/{name}/{op}", func(w http.ResponseWriter, r *http.Request) {
		msg, err := l.do(r.Context(), r.PathValue("op"), r.PathValue("name"))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err != nil {
			code := http.StatusInternalServerError
			if re := (*requestError)(nil); errors.As(err, &re) {
				code = re.code
			}
			w.WriteHeader(code)
			msg = err.Error() + "\n"
		}
		_, _ = io.WriteString(w, msg)
	})
	return mux
}

// do carries out op (kill, stop, restart) on the named member.
func (l *local) do(ctx context.Context, op, name string) (string, error) {
	i, err := l.member(name)
	if err != nil {
		return "", err
	}
	switch op {
	case "kill":
		return l.kill(i, false)
	case "stop":
		return l.kill(i, true)
	case "restart":
		return l.restart(ctx, i)
	}
	return "", &requestError{http.StatusNotFound, fmt.Sprintf("unknown operation %q (kill, stop, restart)", op)}
}

// controlClient is an HTTP client for the control socket sock.
func controlClient(sock string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// The host in control URLs is ignored: the client dials the socket.
const controlURL = "http://raftkv-local"

// probe asks the raftkv-local serving sock for its pid: an error means
// none is running there.
func probe(sock string) (int, error) {
	r, err := getStatus(sock)
	return r.PID, err
}

func getStatus(sock string) (statusReply, error) {
	hc := controlClient(sock, 5*time.Second)
	defer hc.CloseIdleConnections()
	var r statusReply
	resp, err := hc.Get(controlURL + "/status")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("status: %s", resp.Status)
	}
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// post sends op on member name to the raftkv-local serving sock, and
// returns its answer and whether it succeeded.
func post(sock, op, name string) (string, bool, error) {
	hc := controlClient(sock, healthyTimeout+stopTimeout)
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(controlURL+"/members/"+name+"/"+op, "", nil)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode == http.StatusOK, err
}

// command runs `raftkv-local <name> args...` against the running
// raftkv-local and returns the exit code.
func command(name string, args []string, self string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("raftkv-local "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", defaultDir, "the running raftkv-local's --data-dir")
	asJSON := fs.Bool("json", false, "status: print the JSON answer")
	// Flags may come before or after the member name.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != commands[name] {
		if commands[name] == 0 {
			fmt.Fprintf(stderr, "raftkv-local %s takes no member name\n", name)
		} else {
			fmt.Fprintf(stderr, "raftkv-local %s needs one member name, as in: %s %s m2\n", name, self, name)
		}
		return 2
	}
	sock := filepath.Join(*dir, socketName)
	notRunning := func(err error) int {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // not the made-up URL
		}
		fmt.Fprintf(stderr, "raftkv-local: no raftkv-local answers at %s (%v): start the cluster with make run (or %s), or pass the --data-dir it runs on\n",
			sock, err, self)
		return 1
	}
	if name == "status" {
		r, err := getStatus(sock)
		if err != nil {
			return notRunning(err)
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(r)
			return 0
		}
		writeStatus(stdout, r)
		return 0
	}
	msg, ok, err := post(sock, name, pos[0])
	if err != nil {
		return notRunning(err)
	}
	if !ok {
		fmt.Fprint(stderr, "raftkv-local: ", msg)
		return 1
	}
	fmt.Fprint(stdout, msg)
	return 0
}

// writeStatus prints a status answer as a table.
func writeStatus(w io.Writer, r statusReply) {
	fmt.Fprintf(w, "raftkv-local (pid %d) on %s\n", r.PID, r.Dir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tPID\tPROCESS\tRAFT\tCLIENT URL")
	for _, m := range r.Members {
		process, role := "running", m.Role
		if !m.Running {
			process, role = "exited ("+m.Exit+")", "-"
		} else if role == "" {
			role = "not answering"
		} else {
			role = fmt.Sprintf("%s, term %d", role, m.Term)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Name, m.PID, process, role, m.ClientURL)
	}
	_ = tw.Flush()
}
