package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/raftkv/raftkv/client"
)

// deleteLike reports whether action removed the node: its output is the
// previous value.
func deleteLike(action string) bool {
	return action == "delete" || action == "compareAndDelete" || action == "expire"
}

// printResponse writes a keys response in the --output format, as etcdctl.
func (a *app) printResponse(resp *client.Response) {
	switch a.output {
	case "simple":
		if deleteLike(resp.Action) {
			fmt.Fprintln(a.out, "PrevNode.Value:", prevValue(resp))
		} else {
			fmt.Fprintln(a.out, nodeValue(resp))
		}
	case "extended":
		// RFC 2822-style header lines, then the value.
		n := resp.Node
		if n == nil {
			n = &client.Node{}
		}
		fmt.Fprintln(a.out, "Key:", n.Key)
		fmt.Fprintln(a.out, "Created-Index:", n.CreatedIndex)
		fmt.Fprintln(a.out, "Modified-Index:", n.ModifiedIndex)
		if resp.PrevNode != nil {
			fmt.Fprintln(a.out, "PrevNode.Value:", resp.PrevNode.Value)
		}
		fmt.Fprintln(a.out, "TTL:", n.TTL)
		fmt.Fprintln(a.out, "Index:", resp.Index)
		if !deleteLike(resp.Action) {
			fmt.Fprintln(a.out)
			fmt.Fprintln(a.out, n.Value)
		}
	case "json":
		a.printJSON(resp)
	}
}

func nodeValue(resp *client.Response) string {
	if resp.Node == nil {
		return ""
	}
	return resp.Node.Value
}

func prevValue(resp *client.Response) string {
	if resp.PrevNode == nil {
		return ""
	}
	return resp.PrevNode.Value
}

func (a *app) printJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(a.err, "Error: ", err)
		return
	}
	fmt.Fprintln(a.out, string(b))
}

// fail reports err as etcdctl does and returns code: "Error:  <err>" on
// stderr, then a line per endpoint tried when no member answered; in json
// mode a v2 error is written as its JSON body instead.
func (a *app) fail(code int, err error) int {
	var v2 *client.Error
	if a.output == "json" && errors.As(err, &v2) {
		b, _ := json.Marshal(v2)
		fmt.Fprintln(a.err, string(b))
		return code
	}
	fmt.Fprintln(a.err, "Error: ", err)
	var ce *client.ClusterError
	if errors.As(err, &ce) {
		fmt.Fprint(a.err, ce.Detail())
	}
	if untrustedCA(err) {
		fmt.Fprintln(a.err, "Hint: the member's certificate is signed by a CA this client does not trust; give that CA with --cacert (or --ca-file)")
	}
	return code
}

// untrustedCA reports whether err, or any member's error in it, is a
// certificate from an unknown authority.
// (ClusterError and EndpointError unwrap to each member's error.)
func untrustedCA(err error) bool {
	return errors.As(err, new(x509.UnknownAuthorityError))
}

// keysError ends a key command that got err: exit 2 when no member could be
// reached at all, 4 for any answer.
func (a *app) keysError(err error) int {
	var isDir errIsDir
	if errors.As(err, &isDir) {
		fmt.Fprintln(a.err, isDir.Error())
		return exitBadArgs
	}
	if isConnectionError(err) {
		return a.fail(exitBadConnection, err)
	}
	return a.fail(exitServerError, err)
}

// reason is err without the cluster wrapper when only one endpoint was
// tried: "dial tcp ...: connection refused" says it all.
func reason(err error) error {
	var ce *client.ClusterError
	if errors.As(err, &ce) && len(ce.Errors) == 1 {
		return ce.Errors[0].Err
	}
	return err
}

// isConnectionError reports whether err means no member answered anything:
// every attempt failed to connect or timed out.
func isConnectionError(err error) bool {
	var ce *client.ClusterError
	if !errors.As(err, &ce) {
		return false
	}
	for _, ee := range ce.Errors {
		var v2 *client.Error
		var se *client.StatusError
		if errors.As(ee.Err, &v2) || errors.As(ee.Err, &se) {
			return false
		}
	}
	return true
}

// curlPrinter prints each request as a curl command (--debug).
type curlPrinter struct {
	next http.RoundTripper
	w    io.Writer
}

func (c *curlPrinter) RoundTrip(req *http.Request) (*http.Response, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "curl -X %s %q", req.Method, req.URL.String())
	if req.Body != nil && req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			var buf bytes.Buffer
			_, _ = io.Copy(&buf, body)
			body.Close()
			if buf.Len() > 0 {
				if ct := req.Header.Get("Content-Type"); ct != "" && ct != "application/x-www-form-urlencoded" {
					fmt.Fprintf(&b, " -H %q", "Content-Type: "+ct)
				}
				fmt.Fprintf(&b, " -d %q", buf.String())
			}
		}
	}
	fmt.Fprintln(c.w, b.String())
	return c.next.RoundTrip(req)
}
