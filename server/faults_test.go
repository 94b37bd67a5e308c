package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestFaultsEndpoint: /debug/faults sets, shows and clears per-peer
// rules, refuses bad input with a clear error, and the rules decide what
// happens to messages.
func TestFaultsEndpoint(t *testing.T) {
	f := newFaults(1, slog.New(slog.DiscardHandler))
	h := f.wrap(http.NotFoundHandler())
	do := func(method, form string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/debug/faults", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	// No rule: nothing dropped or delayed.
	if drop, delay := f.decide(0xa); drop || delay != 0 {
		t.Errorf("no rule: drop %v delay %v", drop, delay)
	}
	if w := do(http.MethodPut, url.Values{"peer": {"a"}, "drop": {"1"}}.Encode()); w.Code != 200 || !strings.Contains(w.Body.String(), `"a":{"drop":1`) {
		t.Fatalf("PUT drop=1: %d %s", w.Code, w.Body)
	}
	if drop, _ := f.decide(0xa); !drop {
		t.Error("drop=1 for peer a kept a message")
	}
	if drop, _ := f.decide(0xb); drop {
		t.Error("a rule for peer a dropped a message to b")
	}
	if w := do(http.MethodPut, "peer=*&delay=50ms&jitter=10ms"); w.Code != 200 {
		t.Fatalf("PUT *: %d %s", w.Code, w.Body)
	}
	for range 20 {
		if drop, delay := f.decide(0xb); drop || delay < 50*time.Millisecond || delay >= 60*time.Millisecond {
			t.Fatalf("* delay=50ms jitter=10ms: drop %v delay %v", drop, delay)
		}
	}
	// A peer's own rule wins over *.
	if drop, _ := f.decide(0xa); !drop {
		t.Error("* replaced peer a's own rule")
	}
	// drop=0 delay=0: the rule goes.
	if w := do(http.MethodPut, "peer=a"); w.Code != 200 || strings.Contains(w.Body.String(), `"a"`) {
		t.Errorf("PUT peer=a with no fault: %d %s", w.Code, w.Body)
	}
	for _, bad := range []struct{ form, want string }{
		{"drop=0.5", "peer is missing"},
		{"peer=zz&drop=0.5", `peer "zz" is not a member id`},
		{"peer=a&drop=1.5", `drop "1.5" is not a probability`},
		{"peer=a&drop=-0.1", `drop "-0.1" is not a probability`},
		{"peer=a&drop=NaN", `drop "NaN" is not a probability`},
		{"peer=a&drop=Inf", `drop "Inf" is not a probability`},
		{"peer=a&drop=1e400", `drop "1e400" is not a probability`},
		{"peer=a&delay=soon", `delay "soon" is not a duration`},
		{"peer=a&delay=-5ms", `delay "-5ms" is not a duration`},
		{"peer=a&delay=1500us", `delay "1500us" is not a whole number of milliseconds`},
		{"peer=a&jitter=0.5ms", `jitter "0.5ms" is not a whole number of milliseconds`},
		{"peer=a&delay=20s&jitter=20s", "above the limit"},
		{"peer=a&delay=31s", "delay is 31s, above the limit"},
		// Each alone within int64, their sum not: refused all the same.
		{"peer=a&delay=2000000h&jitter=2000000h", "above the limit"},
	} {
		if w := do(http.MethodPut, bad.form); w.Code != 400 || !strings.Contains(w.Body.String(), bad.want) {
			t.Errorf("PUT %s: %d %q, want 400 with %q", bad.form, w.Code, w.Body, bad.want)
		}
	}
	if w := do(http.MethodDelete, ""); w.Code != 200 || w.Body.String() != "{\"peers\":{}}\n" {
		t.Errorf("DELETE: %d %q", w.Code, w.Body)
	}
	if drop, delay := f.decide(0xb); drop || delay != 0 {
		t.Errorf("after DELETE: drop %v delay %v", drop, delay)
	}
	if w := do(http.MethodPatch, ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("PATCH: %d", w.Code)
	}
	// Other paths go to the wrapped handler.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v2/keys/x", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("/v2/keys/x through the wrapper: %d", w.Code)
	}
}

// TestFaultInjectionOffByDefault: a member started without the flag has
// no /debug/faults (and says nothing of it); one with it warns in its log.
func TestFaultInjectionOffByDefault(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	m := newMember(MemberConfig{Logger: log})
	if m.faults != nil {
		t.Fatal("fault injection on without MemberConfig.FaultInjection")
	}
	if logs.Len() != 0 {
		t.Errorf("a member without fault injection logged %q", logs.String())
	}
	if m := newMember(MemberConfig{FaultInjection: true, Logger: log}); m.faults == nil {
		t.Fatal("MemberConfig.FaultInjection did not turn it on")
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "TEST ONLY: fault injection is on") {
		t.Errorf("no warning that fault injection is on; log: %q", out)
	}
}
