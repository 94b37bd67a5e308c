package server

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/kv"
)

// FuzzParseKeyRequest feeds arbitrary query strings and form bodies to the
// /v2/keys parser: it must never panic, every refusal must be a v2 error
// with a request-parsing code, and every command it accepts must survive
// the log encoding unchanged.
func FuzzParseKeyRequest(f *testing.F) {
	f.Add("PUT", "/v2/keys/a", "", "value=Hello")
	f.Add("PUT", "/v2/keys/a/../b", "ttl=5&prevExist=true", "value=x&prevValue=y&prevIndex=3")
	f.Add("GET", "/v2/keys/", "wait=true&waitIndex=7&recursive=true&stream=1", "")
	f.Add("DELETE", "/v2/keys/d", "dir=true&recursive=t&prevIndex=x", "")
	f.Add("POST", "/v2/keys/q", "", "value=%zz&ttl=-1")
	f.Add("PUT", "/v2/keys/r", "refresh=true&ttl=4294967297", "")
	allowed := map[int]bool{kv.EcodeInvalidForm: true, kv.EcodeInvalidField: true, kv.EcodeTTLNaN: true,
		kv.EcodeIndexNaN: true, kv.EcodePrevValueReq: true}
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		switch method {
		case "GET", "PUT", "POST", "DELETE", "HEAD":
		default:
			return
		}
		if !strings.HasPrefix(path, "/v2/keys") {
			return
		}
		r, err := http.NewRequest(method, "http://x"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		kr, kerr := parseKeyRequest(r)
		if kerr != nil {
			if !allowed[kerr.Code] {
				t.Fatalf("parse error with code %d: %v", kerr.Code, kerr)
			}
			return
		}
		if !strings.HasPrefix(kr.path, "/") {
			t.Fatalf("path %q not absolute", kr.path)
		}
		if kr.cmd.Method == 0 {
			return
		}
		b, err := kr.cmd.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := kv.DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*back, kr.cmd) {
			t.Fatalf("command changed through the log encoding:\n%+v\n%+v", kr.cmd, *back)
		}
	})
}
