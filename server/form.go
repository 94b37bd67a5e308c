package server

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
)

// readForm reads a request's parameters as r.ParseForm would (a
// url-encoded body's first, then the query's), without its maps: a v2
// request has a handful of parameters, and a slice of pairs searched in
// order costs less to build than url.Values and a merged r.Form. Anything
// out of the ordinary (another content type or a malformed one, a large
// or unknown-length body, a malformed parameter, many parameters) goes
// through r.ParseForm itself, so that its errors are ParseForm's, word
// for word.
func readForm(r *http.Request) (form, error) {
	var f form
	// body is what was read of the body, and read says whether it was
	// read: ParseForm must read it again if the query sends us to it.
	var body string
	read := false
	switch r.Method {
	case http.MethodPut, http.MethodPost, http.MethodPatch:
		if r.Body == nil {
			return parseFormSlow(r) // "missing form body"
		}
		if r.ContentLength == 0 || r.Body == http.NoBody {
			// Nothing to read, but ParseForm still parses the media
			// type, and fails on a malformed one.
			if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/x-www-form-urlencoded" {
				if _, _, err := mime.ParseMediaType(ct); err != nil {
					return parseFormSlow(r)
				}
			}
			break
		}
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
			r.ContentLength < 0 || r.ContentLength > maxFastFormBody {
			return parseFormSlow(r)
		}
		bp := formBufs.Get().(*[]byte)
		buf := append((*bp)[:0], make([]byte, r.ContentLength)...)
		n, err := io.ReadFull(r.Body, buf)
		body, read = string(buf[:n]), true
		*bp = buf
		formBufs.Put(bp)
		if err != nil {
			// Let ParseForm meet the same failure and name it.
			r.Body = readerCloser{io.MultiReader(strings.NewReader(body), r.Body), r.Body}
			return parseFormSlow(r)
		}
		if f.pairs, err = appendPairs(f.pairs, body); err != nil {
			r.Body = readerCloser{strings.NewReader(body), r.Body}
			return parseFormSlow(r)
		}
	}
	var err error
	if f.pairs, err = appendPairs(f.pairs, r.URL.RawQuery); err != nil {
		if read {
			r.Body = readerCloser{strings.NewReader(body), r.Body}
		}
		return parseFormSlow(r)
	}
	return f, nil
}

// maxFastFormBody is the largest body readForm parses itself.
const maxFastFormBody = 64 << 10

var formBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

type readerCloser struct {
	io.Reader
	io.Closer
}

// parseFormSlow is readForm through r.ParseForm.
func parseFormSlow(r *http.Request) (form, error) {
	if err := r.ParseForm(); err != nil {
		return form{}, err
	}
	var f form
	// r.Form is a map: rebuild the order readForm gives, body first.
	for k, vs := range r.PostForm {
		for _, v := range vs {
			f.pairs = append(f.pairs, formPair{k, v})
		}
	}
	for k, vs := range r.Form {
		// r.Form holds the body's values first, then the query's.
		for _, v := range vs[len(r.PostForm[k]):] {
			f.pairs = append(f.pairs, formPair{k, v})
		}
	}
	return f, nil
}

// appendPairs parses a url-encoded list as url.ParseQuery does, appending
// its pairs in order; any error (a semicolon, a bad escape, too many
// parameters) is reported and the caller falls back to ParseForm.
func appendPairs(pairs []formPair, s string) ([]formPair, error) {
	if strings.Count(s, "&")+1 > maxFastFormParams {
		return pairs, errTooManyParams
	}
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		if kv == "" {
			continue
		}
		if strings.IndexByte(kv, ';') >= 0 {
			return pairs, errSemicolon
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return pairs, err
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return pairs, err
		}
		pairs = append(pairs, formPair{k, v})
	}
	return pairs, nil
}

// maxFastFormParams is the most parameters (counted as url.ParseQuery
// counts them: one more than the '&'s) appendPairs parses. ParseQuery
// refuses more than 10000 by default (GODEBUG urlmaxqueryparams sets
// another limit); far below that, the limit in force is ParseForm's own,
// unless the GODEBUG setting is lower still. A v2 request has a handful.
const maxFastFormParams = 100

// errSemicolon and errTooManyParams only signal the fallback: ParseForm
// names the error.
var (
	errSemicolon     = errors.New("semicolon in a url-encoded list")
	errTooManyParams = errors.New("too many parameters in a url-encoded list")
)

// cleanKeyPath is path.Clean("/" + p), without its two allocations when p
// is clean already (as nearly every key a client sends is).
func cleanKeyPath(p string) string {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' ||
		strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
		strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
		return path.Clean("/" + p)
	}
	return p
}
