package server

import (
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
	"unsafe"

	"pgregory.net/rapid"
)

// formList draws a url-encoded list over a few keys, with repeated keys,
// empty values, escapes good and bad, '+' and semicolons.
func formList() *rapid.Generator[string] {
	keys := []string{"value", "ttl", "prevExist", "quorum", "dir", "v%61lue", "a+b"}
	values := []string{"", "1", "true", "x%20y", "a+b", "%zz", "%", "semi;colon", "caf%C3%A9", "=", "long" + strings.Repeat("v", 300)}
	return rapid.Custom(func(t *rapid.T) string {
		var parts []string
		for range rapid.IntRange(0, 5).Draw(t, "n") {
			k := rapid.SampledFrom(keys).Draw(t, "k")
			switch rapid.IntRange(0, 3).Draw(t, "shape") {
			case 0:
				parts = append(parts, k)
			case 1:
				parts = append(parts, "")
			default:
				parts = append(parts, k+"="+rapid.SampledFrom(values).Draw(t, "v"))
			}
		}
		return strings.Join(parts, "&")
	})
}

// TestReadFormMatchesParseForm checks readForm against r.ParseForm (the
// model) on random requests: the same error (or none), and for every key
// the same presence and first value. Bodies are often empty, content
// types sometimes malformed (ParseForm parses them even for an empty
// body), and a query or a body sometimes has more parameters than
// url.ParseQuery takes (10000).
func TestReadFormMatchesParseForm(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		method := rapid.SampledFrom([]string{"GET", "PUT", "POST", "DELETE", "PATCH"}).Draw(t, "method")
		query := formList().Draw(t, "query")
		body := formList().Draw(t, "body")
		if rapid.Bool().Draw(t, "emptyBody") {
			body = ""
		}
		ct := rapid.SampledFrom([]string{"application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8", "", "text/plain",
			";;", "a/b; =", "application/x-www-form-urlencoded; =", "/", "text/plain; charset"}).Draw(t, "ct")
		chunked := rapid.Bool().Draw(t, "unknownLength")
		// Many parameters, in the query or the body: around the number
		// appendPairs parses itself, and around url.ParseQuery's limit.
		many := rapid.SampledFrom([]int{0, 0, 0, maxFastFormParams, maxFastFormParams + 1, 10000, 10001}).Draw(t, "many")
		if many > 0 {
			list := strings.TrimSuffix(strings.Repeat("p=1&", many), "&")
			if rapid.Bool().Draw(t, "manyInBody") {
				body = list
			} else {
				query = list
			}
		}
		mk := func() *http.Request {
			r := httptest.NewRequest(method, "/v2/keys/a?"+query, strings.NewReader(body))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			if chunked {
				r.ContentLength = -1
			}
			return r
		}
		want := mk()
		wantErr := want.ParseForm()
		got, gotErr := readForm(mk())
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("error %v, ParseForm's %v", gotErr, wantErr)
		}
		if wantErr != nil {
			return
		}
		for _, k := range []string{"value", "ttl", "prevExist", "quorum", "dir", "a b", "vaalue"} {
			_, wantHas := want.Form[k]
			if got.has(k) != wantHas || got.get(k) != want.Form.Get(k) {
				t.Fatalf("%s: has %v get %q; ParseForm: has %v get %q", k, got.has(k), got.get(k), wantHas, want.Form.Get(k))
			}
		}
	})
}

// TestCleanKeyPathIsPathClean checks the shortcut against path.Clean.
func TestCleanKeyPathIsPathClean(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var b strings.Builder
		for range rapid.IntRange(0, 6).Draw(t, "n") {
			b.WriteString(rapid.SampledFrom([]string{"/", "a", "b", ".", "..", "/.", "/..", "//", "k1", "%2F"}).Draw(t, "piece"))
		}
		p := b.String()
		if got, want := cleanKeyPath(p), path.Clean("/"+p); got != want {
			t.Fatalf("cleanKeyPath(%q) = %q, want %q", p, got, want)
		}
	})
}

func BenchmarkReadForm(b *testing.B) {
	body := "value=" + strings.Repeat("a", 256)
	b.Run("ParseForm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest("PUT", "/v2/keys/raftkv-bench/k1", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			_ = r.ParseForm()
		}
	})
	b.Run("readForm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest("PUT", "/v2/keys/raftkv-bench/k1", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			_, _ = readForm(r)
		}
	})
}

// A write's command has a path of its own, not a piece of the request's
// (the key space keeps it, and the fast path's is a piece of the whole
// head); a read's needs none.
func TestWriteCommandOwnsItsPath(t *testing.T) {
	for _, method := range []string{http.MethodPut, http.MethodPost} {
		r := httptest.NewRequest(method, "/v2/keys/a/b", strings.NewReader("value=v"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		kr, kerr := parseKeyRequest(r)
		if kerr != nil {
			t.Fatal(kerr)
		}
		if kr.cmd.Path != "/a/b" || unsafe.StringData(kr.cmd.Path) == unsafe.StringData(kr.path) {
			t.Errorf("%s: command path %q shares the request's", method, kr.cmd.Path)
		}
	}
}
